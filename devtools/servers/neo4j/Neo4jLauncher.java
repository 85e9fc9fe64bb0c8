import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

import sun.misc.Signal;

/**
 * Embedded Neo4j Community DBMS with a Bolt connector on 127.0.0.1, for development and tests.
 *
 * <p>Usage: {@code java -cp <jars> Neo4jLauncher <home-dir> <bolt-port> [--exit-with-parent]}.
 * Prints {@code NEO4J-READY port=<port>} once the default database accepts queries over Bolt
 * and {@code NEO4J-STOPPED} after a clean shutdown. SIGTERM shuts down cleanly and exits 0.
 * With {@code --exit-with-parent} it also shuts down when the process that started it dies.
 */
public final class Neo4jLauncher {
    private static final String LOOPBACK = "127.0.0.1";

    private Neo4jLauncher() {}

    public static void main(String[] args) throws InterruptedException {
        boolean exitWithParent = args.length == 3 && args[2].equals("--exit-with-parent");
        if (args.length != 2 && !exitWithParent) {
            System.err.println("usage: Neo4jLauncher <home-dir> <bolt-port> [--exit-with-parent]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress(LOOPBACK))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(LOOPBACK, port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                // A pool of 400 worker threads (the default) is wasted on a 2-core test box.
                .setConfig(BoltConnector.thread_pool_min_size, 2)
                .setConfig(BoltConnector.thread_pool_max_size, 64)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                // Routing is a cluster feature; a second connector (default :7688) would
                // collide as soon as two of these run on one machine.
                .setConfig(GraphDatabaseSettings.routing_enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(128))
                .setConfig(GraphDatabaseSettings.pagecache_warmup_enabled, false)
                // Test data dirs live in /tmp: do not reserve 256 MiB per transaction log.
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.logical_log_rotation_threshold, ByteUnit.mebiBytes(32))
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                .setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(2))
                // Netty waits a 5 s quiet period per event loop group on shutdown; tests
                // stop servers often, and nothing is left in flight by then.
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(2))
                .setConfig(GraphDatabaseSettings.filewatcher_enabled, false)
                .setConfig(GraphDatabaseInternalSettings.vm_pause_monitor_enabled, false)
                .build();

        AtomicBoolean stopped = new AtomicBoolean(false);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (stopped.compareAndSet(false, true)) {
                dbms.shutdown();
                System.out.println("NEO4J-STOPPED");
                System.out.flush();
            }
        }, "neo4j-shutdown"));
        // The JVM's own SIGTERM handling runs the hooks but exits 143; a clean stop
        // should look clean (exit 0) to whoever supervises us.
        Signal.handle(new Signal("TERM"), signal -> System.exit(0));
        if (exitWithParent) {
            // A test run that is killed (xdist worker crash, SIGKILL) cannot stop its
            // servers; without this they would linger and hold memory and ports.
            ProcessHandle.current().parent().ifPresent(
                    parent -> parent.onExit().thenRun(() -> System.exit(0)));
        }

        boolean available = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME)
                .isAvailable(Duration.ofMinutes(2).toMillis());
        if (!available) {
            System.err.println("NEO4J-FAILED default database not available");
            System.exit(1);
        }
        System.out.println("NEO4J-READY port=" + port);
        System.out.flush();
        // Neo4j's own threads may all be daemons; park here until a signal ends the JVM.
        Thread.currentThread().join();
    }
}
