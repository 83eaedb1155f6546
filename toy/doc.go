// Package toy is a small disaggregated serving stack that behaves, as seen from the supervisor, like
// the real test harness: GEN_i and CTX_i workers, a DISAGG_SERVER router and a BENCHMARK client. Every
// rank of every role runs the same command and takes its role from the environment. It lets the demo,
// the tests and a first run on a real cluster exercise launch, placement, readiness, failure detection
// and teardown without GPUs or models. It is run as `disagg-supervisor toy [flags]`, through Main.
//
// # Environment
//
//	DISAGG_SERVING_TYPE  role of the rank: GEN_i, CTX_i, DISAGG_SERVER or BENCHMARK (required)
//	SLURM_PROCID         rank within the role's step (default 0)
//	SLURMD_NODENAME      node name for the first line (default: the host name)
//	SLURM_JOB_ID         names the hostnames directory (required, unless the run token is set)
//	TRTLLM_PERF_RUN_TOKEN  JOB.RESTART.UNIQUE; gives the job id when SLURM_JOB_ID is not set, as in
//	                     DISAGG_SERVER and BENCHMARK, whose SLURM_* variables the launcher unsets
//	testOutputDir        where addresses, fault times and benchmark.status go (required)
//	jobWorkspace         where the benchmark writes its results (default: testOutputDir)
//	numGenServers        GEN servers the router waits for (required for DISAGG_SERVER, >= 1)
//	numCtxServers        CTX servers the router waits for (DISAGG_SERVER only, default 0)
//	TRTLLM_DISAGG_BENCHMARK_GEN_ONLY  "1": no CTX servers; the router decodes only
//	CUDA_VISIBLE_DEVICES echoed in the first line, to check GPU placement
//	TOY_FAIL             fault specs, used when -fail is not given
//	TOY_IGNORE_TERM      role that ignores termination, used when -ignore-term is not given
//
// # Flags
//
//	-requests N          requests the benchmark sends (default 200, >= 1)
//	-concurrency C       requests the benchmark keeps in flight (default 8, >= 1)
//	-work D              simulated work per request in each worker (default 2ms)
//	-wait-timeout D      bound on waiting for peers, and on each call to a peer (default 60s)
//	-fail SPEC           fault injection, see below
//	-ignore-term ROLE    the ranks of ROLE keep running after SIGTERM, until killed
//
// Flags may be written with one dash or two. Every rank can be given the same flags and environment:
// each uses the ones that concern its role.
//
// # Behaviour
//
// Every rank first prints one line on stdout:
//
//	toy: role=GEN_0 rank=1 node=node2 pid=1234 cuda_visible_devices=0,1
//
// Rank 0 of GEN_i and CTX_i serves HTTP on 127.0.0.1 on a port the kernel picks (GET /health; POST
// /decode on GEN, POST /prefill on CTX, each holding the request for -work) and publishes
// "127.0.0.1:PORT" in <testOutputDir>/hostnames-<TRTLLM_PERF_RUN_TOKEN>/<ROLE>.txt (hostnames-<SLURM_JOB_ID> without a run token). DISAGG_SERVER waits, polling
// every 50ms, until every GEN_i and CTX_i it expects has published an address that answers GET /health,
// then serves GET /health and POST /generate (prefill on a CTX worker, then decode on a GEN worker,
// round robin; 502 naming the worker when one fails) and publishes DISAGG_SERVER.txt in the same
// directory. BENCHMARK waits for DISAGG_SERVER the same way, sends its requests, prints a one-line
// summary ("toy: benchmark requests=... failed=... concurrency=... duration=...s throughput=... req/s
// latency_ms p50=... p90=... p99=..."), writes <jobWorkspace>/toy_benchmark_results.json and
// <testOutputDir>/benchmark.status ("ok" or "failed"), and exits 0 only when every request succeeded.
//
// Ranks above 0 of any role only stay alive, as the rest of a multi-rank world would. Workers and the
// router never exit on their own, not even after the benchmark is done: stopping them is the
// supervisor's job. All files are written to a temporary name and renamed, so a reader never sees part
// of one; they hold no trailing newline.
//
// Because every address is on 127.0.0.1, roles that talk to each other must share a node.
//
// # Exit codes
//
//	0    the benchmark succeeded (or a fault asked for 0)
//	1    the run failed: a peer never became ready, a request failed, a file could not be written
//	2    a flag or an environment variable is wrong; one line on stderr names it
//	143  the context was cancelled (SIGTERM or SIGINT)
//	any  the code of an injected fault; "kill" ends the process with SIGKILL (137 in a shell)
//
// # Fault injection
//
// SPEC is a comma-separated list of ROLE[:RANK[:CODE[:DELAY]]]; empty fields take their defaults,
// so "BENCHMARK::7" is valid. RANK defaults to 0. CODE is a number from 0 to 255 (default 1) or
// "kill". DELAY is a Go duration counted from the rank's start, default 1s. Two specs for the same
// role and rank are an error. When the fault fires the rank writes the Unix time in nanoseconds to
// <testOutputDir>/fault-<ROLE>-<RANK>.time, prints "toy: injected failure role=... rank=... spec=...
// after=..." on stderr, and fails at once: servers are closed without draining, and kill sends SIGKILL
// to the process itself. For BENCHMARK without a DELAY the fault fires at the end of the run, after
// the summary and results, with benchmark.status "failed"; with a DELAY it fires at DELAY or at the end
// of the run, whichever comes first, and if that is during the run, no results are written.
package toy
