"""Developer tools: real Neo4j and S3-compatible servers from Maven Central jars, benchmarks."""
