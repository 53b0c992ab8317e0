// Package harness runs the cxstream pipeline as separate processes on the
// real services for the benchmark (cmd/cxbench) and the fault suite
// (cmd/cxchaos): a configuration of its own per run (topics, consumer
// groups, Redis and ClickHouse databases), `cxstream` child processes, a
// synthetic population encoded as the collector would with its ground
// truth, and the accuracy of the pipeline's end state against that truth.
package harness
