/**
 * Runs S3Proxy's own {@code org.gaul.s3proxy.Main}, optionally tied to the life of its parent.
 *
 * <p>Usage: {@code java -cp <s3proxy jars> S3ProxyLauncher.java [--exit-with-parent] --properties
 * <file>}. Run as a single source file (no compile step to cache). With
 * {@code --exit-with-parent} the server exits when the process that started it dies, so a
 * killed test run (xdist worker crash, SIGKILL) leaves no server behind.
 */
public final class S3ProxyLauncher {
    private S3ProxyLauncher() {}

    public static void main(String[] args) throws Exception {
        String[] rest = args;
        if (args.length > 0 && args[0].equals("--exit-with-parent")) {
            rest = java.util.Arrays.copyOfRange(args, 1, args.length);
            ProcessHandle.current().parent().ifPresent(
                    parent -> parent.onExit().thenRun(() -> Runtime.getRuntime().halt(0)));
        }
        org.gaul.s3proxy.Main.main(rest);
    }
}
