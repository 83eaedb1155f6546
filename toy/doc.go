// Package toy is a small disaggregated serving stack that behaves, as seen from the supervisor, like
// the real test harness: GEN_i and CTX_i workers, a DISAGG_SERVER router and a BENCHMARK client. Every
// rank of every role runs the same command and takes its role from the environment. It lets the demo,
// the tests and a first run on a real cluster exercise launch, placement, readiness, failure detection
// and teardown without GPUs or models. It is run as `disagg-supervisor toy [flags]`, through Main.
//
// # Environment
//
//	DISAGG_SERVING_TYPE  role of the rank: GEN_i, CTX_i, DISAGG_SERVER, BENCHMARK, or SERVER for an
//	                     aggregated test (required)
//	SLURM_PROCID         rank within the role's step (default 0)
//	SLURMD_NODENAME      node name for the first line (default: the host name)
//	SLURM_JOB_ID         names the hostnames directory (required, unless the run token is set)
//	TRTLLM_PERF_RUN_TOKEN  JOB.RESTART.UNIQUE; gives the job id when SLURM_JOB_ID is not set, as in
//	                     DISAGG_SERVER and BENCHMARK, whose SLURM_* variables the launcher unsets
//	testOutputDir        where addresses, status, .done and fault time files go (required)
//	jobWorkspace         where the benchmark writes its results (default: testOutputDir)
//	numGenServers        GEN servers the router waits for, and whose .done files the benchmark
//	                     waits for (required, >= 1, for DISAGG_SERVER and for rank 0 of BENCHMARK
//	                     unless -until-stopped)
//	numCtxServers        CTX servers the router waits for (DISAGG_SERVER only, default 0)
//	TRTLLM_DISAGG_BENCHMARK_GEN_ONLY  "1": no CTX servers; the router decodes only
//	CUDA_VISIBLE_DEVICES echoed in the first line, to check GPU placement
//	TOY_FAIL             fault specs, used when -fail is not given
//	TOY_IGNORE_TERM      role that ignores termination, used when -ignore-term is not given
//	TOY_UNTIL_STOPPED    "1": as -until-stopped, "0" or empty: not; used when -until-stopped is not given
//
// # Flags
//
//	-requests N          requests the benchmark sends per server configuration (default 200, >= 1)
//	-concurrency C       requests the benchmark keeps in flight (default 8, >= 1)
//	-work D              simulated work per request in each worker (default 2ms)
//	-wait-timeout D      bound on waiting for peers, on each call to a peer, and (plus the longest
//	                     fault delay) on the benchmark's wait for injected faults (default 60s)
//	-done-timeout D      bound on the benchmark's wait for the gen_server_<i>.done files (default 120s)
//	-server-configs N    server configurations the job runs, one after another (default 1, >= 1)
//	-until-stopped       serve until stopped: no end-of-benchmark protocol (see below)
//	-fail SPEC           fault injection, see below
//	-ignore-term ROLE    the ranks of ROLE keep running after SIGTERM, until killed
//	-heartbeat D         rank 0 of every role writes "toy: ROLE rank 0: heartbeat N" every D, as
//	                     multi-rank servers log from their first rank (default 0: never)
//	-server-port N       DISAGG_SERVER listens on 127.0.0.1:N (default 0: a port the kernel picks)
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
// "127.0.0.1:PORT" in <testOutputDir>/hostnames-<TRTLLM_PERF_RUN_TOKEN>-0/<ROLE>.txt, the first
// server configuration's directory, and in hostnames-<TRTLLM_PERF_RUN_TOKEN>/<ROLE>.txt, where
// readiness probes look (hostnames-<SLURM_JOB_ID>... without a run token). DISAGG_SERVER waits,
// polling every 50ms, until every GEN_i and CTX_i it expects has published an address that answers GET
// /health, then serves GET /health and POST /generate (prefill on a CTX worker, then decode on a GEN
// worker, round robin; 502 naming the worker when one fails) and publishes DISAGG_SERVER.txt in the
// same directories and <testOutputDir>/DISAGG_SERVER.0.addr. BENCHMARK waits for DISAGG_SERVER the
// same way, sends its requests, prints a one-line summary ("toy: benchmark requests=... failed=...
// concurrency=... duration=...s throughput=... req/s latency_ms p50=... p90=... p99=...") and writes
// it, after the line that says where it sends them, in <testOutputDir>/trtllm-benchmark.0.toy.log, and
// the results in <jobWorkspace>/toy_benchmark_results.json. It exits 0 only when every request
// succeeded (and, with the protocol, every .done file appeared).
//
// Ranks above 0 of any role stand for the rest of a multi-rank world: they serve nothing, and end
// as the protocol says. All files are written to a temporary name and renamed, so a reader never sees
// part of one; address, status and time files hold no trailing newline.
//
// Because every address is on 127.0.0.1, roles that talk to each other must share a node.
//
// # End-of-benchmark protocol
//
// By default the toy speaks the real harness's protocol. The benchmark announces the end of server
// configuration idx (0, 1, ...) by writing <testOutputDir>/benchmark_status.<idx>.txt, holding "Done"
// as the harness's does (the verdict is the benchmark's exit code). It writes it even when requests
// failed or the router never became ready, and only once every fault of idx aimed at another role has
// fired (see Fault injection).
// Every rank of GEN_i, CTX_i and DISAGG_SERVER, and the ranks above 0 of BENCHMARK, polls for that
// file every 50ms; when it appears the rank stops its server (draining in-flight requests) and, after
// the last configuration, exits 0. A rank whose server fails first exits non-zero, as before.
//
// After announcing the last configuration, the benchmark waits, bounded by -done-timeout, for
// <testOutputDir>/gen_server_<i>.done for every i < numGenServers (the supervisor writes one once the
// step of GEN_i has ended), prints "toy: BENCHMARK: saw gen_server_0.done gen_server_1.done ...", and
// exits with its verdict. If the wait times out it names the missing files and exits 1.
//
// With -server-configs N > 1, workers and router serve configuration 0; when benchmark_status.0.txt
// appears they stop and serve configuration 1 on new ports, and so on, as the harness's ranks do.
// Configuration idx publishes its addresses in hostnames-<token>-<idx>/ (the first one also in
// hostnames-<token>/), so that no peer of a later configuration finds an address of an earlier one,
// and the router writes DISAGG_SERVER.<idx>.addr. The benchmark measures one configuration at a time
// (waiting for that configuration's router), writes trtllm-benchmark.<idx>.toy.log and its results in
// toy_benchmark_results.json for configuration 0 and toy_benchmark_results.<idx>.json for the later
// ones, announces each in turn, and waits for the .done files only after the last.
//
// -until-stopped (or TOY_UNTIL_STOPPED=1) keeps the older behaviour: one configuration, workers and
// router never exit on their own, not even after the benchmark is done (stopping them is the
// supervisor's job), and the benchmark writes no status file and waits for no .done file. It cannot be
// combined with -server-configs above 1.
//
// # Aggregated tests
//
// DISAGG_SERVING_TYPE=SERVER is the one multi-rank server of an aggregated test, which measures itself
// as the real harness's aggregated test does. Rank 0 serves GET /health and POST /generate (prefill
// and decode in the same process, each holding the request for -work) on 127.0.0.1 and publishes
// hostnames-<token>/SERVER.txt, which makes the role ready; its own client then sends the load through
// that address over loopback, for each server configuration, prints the benchmark's summary line and
// writes the same results files. Injected faults of other ranks are waited for as the benchmark waits
// for them. Rank 0 then writes hostnames-<token>/SERVER.end ("ok" or "failed"), stops serving and
// exits with the verdict; the ranks above 0 serve nothing and exit 0 when SERVER.end appears. No
// status file is written and no .done file is waited for; -until-stopped does not apply. With
// TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 rank 0 says "gen-only" in its serving line.
//
// # Exit codes
//
//	0    the benchmark succeeded, a server rank ended after the last status file, or a fault asked for 0
//	1    the run failed: a peer never became ready, a request failed, a file could not be written,
//	     a .done file or an injected fault's time file never appeared
//	2    a flag or an environment variable is wrong; one line on stderr names it
//	143  the context was cancelled (SIGTERM or SIGINT)
//	any  the code of an injected fault; "kill" ends the process with SIGKILL (137 in a shell)
//
// # Fault injection
//
// SPEC is a comma-separated list of ROLE[:RANK[:CODE[:DELAY]]][@CONFIG]; empty fields take their
// defaults, so "BENCHMARK::7" is valid. RANK defaults to 0. CODE is a number from 0 to 255 (default
// 1) or "kill". CONFIG is the server configuration the fault fires in (default 0; less than
// -server-configs; only 0 for SERVER, which is ready once for all of them). DELAY is a Go duration,
// default 1s, counted from the role's readiness in CONFIG: for rank 0 of a worker or of the router,
// from the moment it publishes its address for CONFIG; for the ranks above 0, from the moment they
// see rank 0 of their role's address file of CONFIG. A rank whose role never gets ready never fires
// its fault. Two specs for the same role and rank are an error. When the fault fires the
// rank writes the Unix time in nanoseconds to <testOutputDir>/fault-<ROLE>-<RANK>.time, prints "toy:
// injected failure role=... rank=... spec=... after=..." (after: since the rank's start) on stderr,
// and fails at once: servers are closed without draining, and kill sends SIGKILL to the process itself.
//
// Every rank is given the same spec, so the benchmark knows the faults aimed at other roles: it does
// not announce the end of a configuration (nor exit) until each of the faults of that configuration
// has fired, that is, until its time file exists. Otherwise a fast benchmark could end the
// configuration, and the servers move on or exit 0, before the fault asked for. The wait is bounded by
// the longest DELAY plus -wait-timeout; a fault that has not fired by then (its role is not in the
// job, or never got ready) fails the benchmark with 1. Once they have fired, the benchmark waits up to
// -wait-timeout more to be stopped, as a benchmark whose server died would hang, and then fails with 1:
// it never reports success after a fault, so a supervisor that reads a server's end after the
// benchmark's status file as normal cannot miss the fault.
//
// # Sicknesses
//
// CODE may also name a sickness, which leaves the rank running but unwell, as hangs look from
// outside; it strikes after DELAY as an exit would (the fault time file and a "toy: injected sickness"
// line on stderr mark the moment), and the rank still ends on SIGTERM:
//
//	hang         a server (GEN_i, CTX_i, DISAGG_SERVER) keeps its port and accepts connections, but
//	             answers no request
//	unavailable  a server answers every request with 503
//	noworkers    DISAGG_SERVER answers GET /health with 200 and "workers":0 (a healthy router
//	             reports its GEN and CTX count there), and every other request with 503
//	stall        BENCHMARK, after the load of CONFIG (and DELAY after the start of CONFIG at the
//	             earliest), blocks on a connection that never answers: no status file, no verdict, no
//	             more output
//	silent       the rank stops writing anything, heartbeat included, and goes on running and serving
//
// Every rank prints all its goroutines' stacks on stderr when it receives SIGUSR1, as processes that
// honour a dump signal do.
//
// A BENCHMARK fault keeps its own rules, and its DELAY counts from the rank's start (for CONFIG > 0:
// from the moment it has announced the end of CONFIG-1). Without a DELAY it fires at the end of CONFIG,
// after its summary, results and status file, and for the last configuration (with the protocol) after
// the wait for the .done files; with a DELAY it fires at DELAY or at that end, whichever comes first,
// and if that is during a load, no results of it are written.
package toy
