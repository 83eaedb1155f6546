package logscan

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/disagg-supervisor/disagg-supervisor/redact"
)

// want is an expected report: the line number and the pattern. The text is the log's line at that number,
// as written, so that every case also checks that Text is the raw line.
type want struct {
	line    int
	pattern string
}

// expect turns wants into Lines, taking their texts from the log.
func expect(t *testing.T, lines []string, wants ...want) []Line {
	t.Helper()
	var out []Line
	for _, w := range wants {
		if w.line < 1 || w.line > len(lines) {
			t.Fatalf("want line %d, the log has %d", w.line, len(lines))
		}
		out = append(out, Line{Number: w.line, Text: lines[w.line-1], Pattern: w.pattern})
	}
	return out
}

// readers are the ways a log reaches Scan: a line may be split across reads anywhere.
var readers = map[string]func(io.Reader) io.Reader{
	"whole":    func(r io.Reader) io.Reader { return r },
	"one-byte": iotest.OneByteReader,
	"half":     iotest.HalfReader,
}

func defaultMatcher(t testing.TB) *Matcher {
	t.Helper()
	m, err := NewMatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestScanDefaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  []want
	}{{
		name: "pytest rank raises RuntimeError in a traceback, then MPI_ABORT noise",
		lines: []string{
			"============================= test session starts ==============================",
			"platform linux -- Python 3.12.3, pytest-8.3.4, pluggy-1.5.0",
			"rootdir: /code/tensorrt_llm/tests/integration/defs",
			"collected 1 item",
			"",
			"[TensorRT-LLM] TensorRT-LLM version: 1.2.0rc4",
			"[TRT-LLM] [I] Starting worker on node gpu-a01, rank 0 of 4",
			"[TRT-LLM] [I] Using error_handler.py hooks, RuntimeErrorCount=0",
			"Traceback (most recent call last):",
			`  File "/code/tensorrt_llm/executor/worker.py", line 412, in worker_main`,
			"    worker = GenerationExecutorWorker(engine, executor_config)",
			`  File "/code/tensorrt_llm/_torch/pyexecutor/py_executor.py", line 233, in __init__`,
			`    raise RuntimeError(f"CUDA error: {err}")`,
			"RuntimeError: CUDA error: an illegal memory access was encountered",
			"CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.",
			"For debugging consider passing CUDA_LAUNCH_BLOCKING=1",
			"--------------------------------------------------------------------------",
			"MPI_ABORT was invoked on rank 0 in communicator MPI_COMM_WORLD",
			"with errorcode 1.",
			"",
			"NOTE: invoking MPI_ABORT causes Open MPI to kill all MPI processes.",
			"You may or may not see output from other processes, depending on",
			"exactly when Open MPI kills them.",
			"--------------------------------------------------------------------------",
			"srun: error: gpu-a01: task 0: Exited with exit code 1",
			"srun: Job step aborted: Waiting up to 32 seconds for job step to finish.",
			"slurmstepd: error: *** STEP 4242.3 ON gpu-a01 CANCELLED AT 2026-11-30T10:00:00 ***",
			"srun: error: gpu-a01: tasks 1-3: Terminated",
		},
		want: []want{{9, "traceback"}, {14, "exception"}, {18, "mpi-abort"}, {21, "mpi-abort"}, {25, "srun-error"}, {28, "srun-error"}},
	}, {
		name: "CUDA out of memory",
		lines: []string{
			"[TRT-LLM] [I] Allocating KV cache: 0.90 of free memory",
			"[TRT-LLM] [W] Requested max_num_tokens exceeds the engine limit",
			"Traceback (most recent call last):",
			`  File "/usr/local/bin/trtllm-serve", line 8, in <module>`,
			"    sys.exit(main())",
			`  File "/code/tensorrt_llm/_torch/pyexecutor/resource_manager.py", line 190, in __init__`,
			`    self.pool = torch.empty(shape, dtype=dtype, device="cuda")`,
			"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.10 GiB of which 3.12 GiB is free.",
			"[TRT-LLM] [E] Failed to initialize executor on rank 0: CUDA out of memory. Tried to allocate 20.00 GiB.",
		},
		want: []want{{3, "traceback"}, {8, "exception"}, {9, "cuda-oom"}},
	}, {
		name: "segfault caught by a signal handler",
		lines: []string{
			"[gpu-b02:5678 :0:5678] Caught signal 11 (Segmentation fault: address not mapped to object at address 0x10)",
			"==== backtrace (tid:   5678) ====",
			" 0  /usr/lib/libucs.so.0(ucs_handle_error+0x2e4) [0x7f00c0a1b2c4]",
			" 1  /usr/lib/libucs.so.0(+0x2f4bf) [0x7f00c0a1e4bf]",
			" 2  /code/tensorrt_llm/libs/libtensorrt_llm.so(_ZN12tensorrt_llm8executor9CacheSendEv+0x3a) [0x7f00a1234567]",
			"=================================",
			"Fatal Python error: Segmentation fault",
			"",
			"Current thread 0x00007f00c1f2e740 (most recent call first):",
			`  File "/code/tensorrt_llm/_torch/pyexecutor/kv_cache_transceiver.py", line 88 in send`,
			"srun: error: gpu-b02: task 1: Segmentation fault (core dumped)",
		},
		// The srun line is also a segfault: it is reported once.
		want: []want{{1, "segfault"}, {7, "fatal-python"}, {11, "srun-error"}},
	}, {
		name: "NCCL WARN and INFO",
		lines: []string{
			"gpu-a01:1234:1300 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>",
			"gpu-a01:1234:1300 [0] NCCL INFO cudaDriverVersion 12080, NCCL errors are reported with NCCL_DEBUG=WARN",
			"gpu-a01:1234:1310 [0] NCCL WARN NET/Socket : peer 10.0.0.2<43210> shortly closed connection",
			"gpu-a01:1234:1310 [0] NCCL WARN NET/IB : Got completion from peer 10.0.0.2<43211> with error 12, opcode 0, len 0, vendor err 129 (Recv)",
			"gpu-a01:1234:1310 [0] NCCL INFO transport/net.cc:1130 -> 6",
			"[rank0]: Traceback (most recent call last):",
			`[rank0]:   File "/code/tests/disagg/test_allreduce.py", line 41, in <module>`,
			"[rank0]:     dist.all_reduce(t)",
			"[rank0]: torch.distributed.DistBackendError: NCCL error in: /opt/pytorch/torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:3356, remote process exited or there was a network error, NCCL version 2.21.5",
			"[rank0]: ncclRemoteError: A call failed possibly due to a network error or a remote process exiting prematurely.",
			"[rank0]: Last error:",
			"[rank0]: NET/IB : Got completion from peer 10.0.0.2<43211> with error 12, opcode 0, len 0, vendor err 129 (Recv)",
			"gpu-a01:1234:1300 [0] NCCL WARN Cuda failure 'an illegal memory access was encountered'",
			"[TensorRT-LLM][ERROR] Failed: NCCL error /code/cpp/tensorrt_llm/runtime/ncclCommunicator.cpp:62 'unhandled system error (run with NCCL_DEBUG=INFO for details)'",
			"gpu-a01:1234:1300 [0] NCCL INFO comm 0x5581 rank 0 nranks 4 - Abort COMPLETE",
			"gpu-a01:1234:1300 [0] NCCL INFO ncclCommInitRank comm 0x5581 rank 0 nranks 4 - Init COMPLETE",
		},
		want: []want{{4, "nccl-error"}, {6, "traceback"}, {9, "exception"}, {10, "nccl-error"}, {13, "nccl-error"}, {14, "nccl-error"}},
	}, {
		name: "UCX errors, with one or two spaces; UCX warnings are no errors",
		lines: []string{
			"[1732960000.123456] [gpu-c03:7788 :0]     ucp_context.c:2190 UCX  INFO  Version 1.18.0 (loaded from /opt/ucx/lib/libucp.so.0)",
			"[1732960000.223456] [gpu-c03:7788 :1]          sock.c:325  UCX  ERROR connect(fd=92, dest_addr=10.0.0.3:52211) failed: Connection refused",
			"[1732960000.323456] [gpu-c03:7788 :1]    ucp_worker.c:1783 UCX  WARN  failed to open UCT transport cuda_ipc",
			"[1732960000.423456] [gpu-c03:7788 :1]       ib_iface.c:1012 UCX ERROR ibv_create_cq(cqe=4096) failed: Cannot allocate memory",
			"[1732960000.523456] [gpu-c03:7788 :1]          sock.c:325  UCX  ERROR connect(fd=92, dest_addr=10.0.0.3:52211) failed: Connection refused",
			"UCX_LOG_LEVEL=ERROR UCX_TLS=rc,cuda_copy,cuda_ipc",
		},
		want: []want{{2, "ucx-error"}, {4, "ucx-error"}, {5, "ucx-error"}},
	}, {
		name: "Address already in use from a server bind",
		lines: []string{
			"INFO:     Started server process [4242]",
			"INFO:     Waiting for application startup.",
			"INFO:     Application startup complete.",
			"ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8336): address already in use",
			"INFO:     Waiting for application shutdown.",
			"INFO:     Application shutdown complete.",
			"Traceback (most recent call last):",
			`  File "/code/tensorrt_llm/serve/openai_disagg_server.py", line 120, in run`,
			`    sock.bind(("0.0.0.0", port))`,
			"OSError: [Errno 98] Address already in use",
		},
		want: []want{{4, "address-in-use"}, {7, "traceback"}, {10, "exception"}},
	}, {
		name: "srun's own errors",
		lines: []string{
			"srun: error: Unable to create step for job 4242: Requested node configuration is not available",
			"srun: Job step creation temporarily disabled, retrying (Requested nodes are busy)",
			"srun: error: gpu-a02: task 3: Exited with exit code 143",
			"srun: error: gpu-a02: tasks 0-2: Killed",
			"slurmstepd: error: Detected 1 oom_kill event in StepId=4242.5. Some of the step tasks have been OOM Killed.",
			"srun: error: gpu-a03: task 4: Out Of Memory",
			"srun: Force Terminated StepId=4242.5",
			"srun: warning: can't honor --ntasks-per-node set to 4 which doesn't match the requested tasks 8",
		},
		want: []want{{1, "srun-error"}, {3, "srun-error"}, {4, "srun-error"}, {5, "oom-kill"}, {6, "srun-error"}},
	}, {
		name: "interleaved ranks print the same traceback",
		lines: []string{
			"0: [TRT-LLM] [I] Loading model weights",
			"1: [TRT-LLM] [I] Loading model weights",
			"1: Loading safetensors weights: 100%|██████████| 4/4 [00:03<00:00,  1.21it/s]",
			"0: Traceback (most recent call last):",
			"1: Traceback (most recent call last):",
			`0:   File "/code/tensorrt_llm/_torch/disaggregation/transceiver.py", line 57, in __init__`,
			`1:   File "/code/tensorrt_llm/_torch/disaggregation/transceiver.py", line 57, in __init__`,
			"0:     self.impl = CacheTransceiver(comm, cfg)",
			"1:     self.impl = CacheTransceiver(comm, cfg)",
			"0: RuntimeError: [TensorRT-LLM][ERROR] Assertion failed: UCX connection INIT_ERROR (/code/cpp/tensorrt_llm/executor/cache_transmission/ucx_utils/connection.cpp:88)",
			"1: RuntimeError: [TensorRT-LLM][ERROR] Assertion failed: UCX connection INIT_ERROR (/code/cpp/tensorrt_llm/executor/cache_transmission/ucx_utils/connection.cpp:88)",
			"0: 1       0x7f3b2c0a1b2c tensorrt_llm::common::throwRuntimeError(char const*, int, std::string const&) + 76",
			"1: 1       0x7f3b2c0a1b2c tensorrt_llm::common::throwRuntimeError(char const*, int, std::string const&) + 76",
			"0: [TRT-LLM] [E] Error in worker: transceiver init failed",
			"2: [TRT-LLM] [I] Waiting for peers",
			"srun: error: gpu-a01: tasks 0-1: Exited with exit code 1",
		},
		want: []want{{4, "traceback"}, {10, "exception"}, {14, "trtllm-error"}, {16, "srun-error"}},
	}, {
		name: "interleaved ranks without labels",
		lines: []string{
			"Traceback (most recent call last):",
			"Traceback (most recent call last):",
			`  File "/code/tests/disagg/launch.py", line 9, in <module>`,
			`  File "/code/tests/disagg/launch.py", line 9, in <module>`,
			"[TRT-LLM] [I] rank 2 still waiting",
			"    run()",
			"    run()",
			"subprocess.TimeoutExpired: Command '['nvidia-smi']' timed out after 30 seconds",
			"subprocess.TimeoutExpired: Command '['nvidia-smi']' timed out after 30 seconds",
		},
		want: []want{{1, "traceback"}, {8, "exception"}},
	}, {
		name: "Open MPI tags every line",
		lines: []string{
			"[1,0]<stdout>:[TRT-LLM] [I] rank 0 ready",
			"[1,0]<stderr>:Traceback (most recent call last):",
			"[1,1]<stderr>:Traceback (most recent call last):",
			`[1,0]<stderr>:  File "/code/tests/disagg/worker.py", line 30, in <module>`,
			`[1,1]<stderr>:  File "/code/tests/disagg/worker.py", line 30, in <module>`,
			"[1,0]<stderr>:    assert peers == 2, peers",
			"[1,1]<stderr>:    assert peers == 2, peers",
			"[1,0]<stderr>:AssertionError: 1",
			"[1,1]<stderr>:AssertionError: 1",
			"[1,1]<stdout>:[TRT-LLM] [I] rank 1 exiting",
		},
		want: []want{{2, "traceback"}, {8, "exception"}},
	}, {
		name: "a traceback that ends in KeyboardInterrupt is teardown",
		lines: []string{
			"[TRT-LLM] [I] Received SIGINT, shutting down",
			"Traceback (most recent call last):",
			`  File "/usr/local/bin/trtllm-serve", line 8, in <module>`,
			"    sys.exit(main())",
			`  File "/usr/lib/python3.12/asyncio/runners.py", line 118, in run`,
			"    return self._loop.run_until_complete(task)",
			"KeyboardInterrupt",
			"srun: error: gpu-a01: task 0: Exited with exit code 130",
			"Traceback (most recent call last):",
			`  File "/code/tests/disagg/launch.py", line 3, in <module>`,
			"ValueError: bad config",
		},
		want: []want{{8, "srun-error"}, {9, "traceback"}, {11, "exception"}},
	}, {
		name: "pytest quotes the source that raised",
		lines: []string{
			"_________________________ test_disaggregated[deepseek] __________________________",
			"",
			"    def test_disaggregated(llm_root):",
			"        result = run_disaggregated(llm_root)",
			`>       raise RuntimeError("CUDA error in worker")`,
			"E       RuntimeError: CUDA error in worker",
			"",
			"defs/disaggregated/test_disaggregated.py:88: RuntimeError",
			"=========================== short test summary info ============================",
			"FAILED defs/disaggregated/test_disaggregated.py::test_disaggregated[deepseek] - RuntimeError: CUDA error in worker",
			"========================= 1 failed, 0 passed in 312.45s =========================",
		},
		want: []want{{6, "exception"}, {8, "runtime-error"}, {10, "cuda-error"}},
	}, {
		name: "precheck verdicts",
		lines: []string{
			"[precheck] GEN_PRECHECK_0 rank 0: sending 64 blocks to CTX_PRECHECK_0",
			"[precheck] verdict: TRANSFER_ERROR (timeout after 120 s waiting for 64 blocks)",
			"[precheck] ucx init: CT_INIT_ERROR backend=UCX",
			"[precheck] counters: INIT_ERROR_COUNT=0 TRANSFER_ERROR_RETRIES=0",
			"AssertionError: peer CTX_PRECHECK_0 sent 0 of 64 blocks",
		},
		want: []want{{2, "transfer-error"}, {3, "init-error"}, {5, "exception"}},
	}, {
		name: "ordinary lines that name errors",
		lines: []string{
			`  File "/code/tensorrt_llm/executor/error_handler.py", line 12, in handle`,
			"[TRT-LLM] [I] stats: RuntimeErrorCount=0 AssertionErrors=0 errors=0",
			"gpu-a01:1234:1300 [0] NCCL INFO Channel 00/24 :    0   1   2   3",
			"[TensorRT-LLM][INFO] CUDA graph capture done, errors=0",
			"[TRT-LLM] [W] Setting UCX_WARN_UNUSED_ENV_VARS=n",
			"export TLLM_LOG_LEVEL=ERROR ERROR_HANDLER=on MPI_ABORTED_COUNT=0",
			"    except RuntimeError as e:",
			"Loading: 100%",
			"CUDA_LAUNCH_BLOCKING=1 makes errors synchronous",
			"srun: warning: can't honor --ntasks-per-node set to 4",
			"[TRT-LLM] [I] retrying on ConnectionError (attempt 1 of 3)",
			"def on_exception(self): handles KeyboardInterrupt and SystemExit",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			log := strings.Join(tc.lines, "\n") + "\n"
			wantLines := expect(t, tc.lines, tc.want...)
			for mname, m := range map[string]*Matcher{"NewMatcher(nil)": defaultMatcher(t), "Default()": Default()} {
				for rname, wrap := range readers {
					got, err := m.Scan(wrap(strings.NewReader(log)), 1, 100)
					if err != nil {
						t.Fatalf("%s, %s reader: %v", mname, rname, err)
					}
					if diff := cmp.Diff(wantLines, got, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("%s, %s reader: Scan (-want +got):\n%s", mname, rname, diff)
					}
				}
			}
		})
	}
}

func TestLabelLen(t *testing.T) {
	for line, want := range map[string]int{
		"0: Traceback":            3,
		"  12: Traceback":         6,
		"3:   File \"x.py\"":      3,
		"[1,3]<stderr>:Traceback": 14,
		"[12,0]<stdout>: x":       15,
		"[rank3]: Traceback":      9,
		"[rank3]:Traceback":       8,
		"12:34:56 RuntimeError":   0,
		"[1,3] x":                 0,
		"[1,3]<>: x":              0,
		"[TRT-LLM] [I] x":         0,
		"[rank]: x":               0,
		"0:x":                     0,
		"Traceback":               0,
		"":                        0,
	} {
		if got := labelLen([]byte(line)); got != want {
			t.Errorf("labelLen(%q) = %d, want %d", line, got, want)
		}
	}
}

func TestCarriageReturns(t *testing.T) {
	log := "Loading weights:  50%|#####     | 2/4\rLoading weights: 100%|##########| 4/4\rTraceback (most recent call last):\r\n" +
		"  File \"x.py\", line 1, in <module>\r\n" +
		"AssertionError\r\n" +
		"srun: error: gpu-a01: task 0: Exited with exit code 1" // no newline at the end
	want := []Line{
		{Number: 1, Text: "Traceback (most recent call last):", Pattern: "traceback"},
		{Number: 3, Text: "AssertionError", Pattern: "exception"},
		{Number: 4, Text: "srun: error: gpu-a01: task 0: Exited with exit code 1", Pattern: "srun-error"},
	}
	for rname, wrap := range readers {
		got, err := defaultMatcher(t).Scan(wrap(strings.NewReader(log)), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s reader: Scan (-want +got):\n%s", rname, diff)
		}
	}
}

func TestRedFlags(t *testing.T) {
	lines := []string{
		"[1732960000.1] [gpu-c03:7788 :0]     ucp_context.c:2190 UCX  INFO  Version 1.18.0",
		"[1732960000.2] [gpu-c03:7788 :0]        ucp_ep.c:3102 UCX  DIAG  ep 0x7f cfg[1]: tag(rc_mlx5/mlx5_0:1) rma(sw-emul)",
		"[1732960000.3] [gpu-c03:7788 :1]    ucp_worker.c:1783 UCX  WARN  failed to open UCT transport cuda_ipc",
		"[1732960000.4] [gpu-c03:7788 :1]          sock.c:325  UCX  ERROR connect(fd=92, dest_addr=10.0.0.3:52211) failed: Connection refused",
		"[1732960000.5] [gpu-c03:7788 :1]          sock.c:325 UCX WARN connection to 10.0.0.3 retried",
		"UCX_TLS=rc,cuda_copy,cuda_ipc UCX_WARN_UNUSED_ENV_VARS=n",
		"RuntimeError: boom",
		"Traceback (most recent call last):",
	}
	got, err := RedFlags().Scan(strings.NewReader(strings.Join(lines, "\n")), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := expect(t, lines, want{2, "sw-emul"}, want{3, "ucx-warn"}, want{4, "ucx-error"}, want{5, "ucx-warn"})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RedFlags().Scan (-want +got):\n%s", diff)
	}
}

func TestExtraPatterns(t *testing.T) {
	m, err := NewMatcher([]string{`Executor shutdown timed out after \d+ s`, `(?i)hang detected`})
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"[TRT-LLM] [W] Executor shutdown timed out after 30 s",
		"watchdog: HANG DETECTED on rank 3",
		"RuntimeError: boom",
		"watchdog: all ranks alive",
	}
	got, err := m.Scan(strings.NewReader(strings.Join(lines, "\n")), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := expect(t, lines,
		want{1, `Executor shutdown timed out after \d+ s`}, want{2, `(?i)hang detected`}, want{3, "exception"})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
}

func TestBadExtraPattern(t *testing.T) {
	for _, tc := range []struct {
		extra []string
		want  string // in the error
	}{
		{[]string{`CUDA error`, `([unclosed`}, `pattern "([unclosed"`},
		{[]string{`a**`}, `pattern "a**"`},
		{[]string{``}, `empty pattern`},
	} {
		m, err := NewMatcher(tc.extra)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewMatcher(%q) = %v, %v; want an error containing %q", tc.extra, m, err, tc.want)
		}
	}
}

func TestLimit(t *testing.T) {
	lines := []string{
		"srun: error: a", "RuntimeError: b", "MPI_ABORT was invoked on rank 1", "Segmentation fault", "CUDA error: c",
	}
	log := strings.Join(lines, "\n")
	m := defaultMatcher(t)
	for _, tc := range []struct {
		limit int
		want  []want
	}{
		{3, []want{{1, "srun-error"}, {2, "exception"}, {3, "mpi-abort"}}},
		{1, []want{{1, "srun-error"}}},
		{0, []want{{1, "srun-error"}, {2, "exception"}, {3, "mpi-abort"}, {4, "segfault"}, {5, "cuda-error"}}}, // DefaultLimit
	} {
		got, err := m.Scan(strings.NewReader(log), 1, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(expect(t, lines, tc.want...), got); diff != "" {
			t.Errorf("limit %d (-want +got):\n%s", tc.limit, diff)
		}
	}

	// With a limit of 1 the header of the KeyboardInterrupt traceback fills the result until the
	// traceback ends; then it is taken back and the next error takes its place.
	lines = []string{
		"Traceback (most recent call last):", `  File "x.py", line 1, in <module>`, "KeyboardInterrupt",
		"srun: error: gpu-a01: task 0: Exited with exit code 130", "RuntimeError: later",
	}
	got, err := m.Scan(strings.NewReader(strings.Join(lines, "\n")), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(expect(t, lines, want{4, "srun-error"}), got); diff != "" {
		t.Errorf("limit 1 with a KeyboardInterrupt (-want +got):\n%s", diff)
	}
}

func TestFirstLine(t *testing.T) {
	got, err := defaultMatcher(t).Scan(strings.NewReader("ok\nRuntimeError: x\n"), 41, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Line{{Number: 42, Text: "RuntimeError: x", Pattern: "exception"}}, got); diff != "" {
		t.Errorf("Scan from line 41 (-want +got):\n%s", diff)
	}
}

func TestLongLines(t *testing.T) {
	m := defaultMatcher(t)
	t.Run("1 MB line matched to its end, reported cut", func(t *testing.T) {
		filler := strings.Repeat("tensor([0.125, ", 1_000_000/15)
		long := filler[:1_000_000-len("RuntimeError: deep")] + "RuntimeError: deep"
		log := "first\n" + long + "\nsrun: error: after\n"
		for rname, wrap := range readers {
			if rname == "one-byte" {
				continue // a million reads of one byte prove nothing the half reader does not
			}
			got, err := m.Scan(wrap(strings.NewReader(log)), 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := []Line{
				{Number: 2, Text: long[:MaxTextBytes], Pattern: "runtime-error", Truncated: true},
				{Number: 3, Text: "srun: error: after", Pattern: "srun-error"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s reader (-want +got):\n%s", rname, diff)
			}
		}
	})
	t.Run("beyond MaxLineBytes a line is not matched, and later lines keep their numbers", func(t *testing.T) {
		log := "RuntimeError: " + strings.Repeat("y", 2*MaxLineBytes) + "\n" +
			strings.Repeat("z", 2*MaxLineBytes) + "CUDA error: too far\n" +
			"srun: error: after\n"
		got, err := m.Scan(strings.NewReader(log), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []Line{
			{Number: 1, Text: ("RuntimeError: " + strings.Repeat("y", MaxTextBytes))[:MaxTextBytes], Pattern: "exception", Truncated: true},
			{Number: 3, Text: "srun: error: after", Pattern: "srun-error"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("a progress bar of megabytes is matched part by part", func(t *testing.T) {
		bar := strings.Repeat("Loading weights:  50%|#####     | 2/4\r", 100_000) // 3.8 MB
		log := bar + "Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: after the bar\n"
		got, err := m.Scan(iotest.HalfReader(strings.NewReader(log)), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []Line{
			{Number: 1, Text: "Traceback (most recent call last):", Pattern: "traceback"},
			{Number: 3, Text: "RuntimeError: after the bar", Pattern: "exception"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("the cut does not split a character", func(t *testing.T) {
		line := "RuntimeError: x" + strings.Repeat("é", MaxTextBytes) // 15 ASCII bytes, then two-byte runes
		got, err := m.Scan(strings.NewReader(line), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !got[0].Truncated || !utf8.ValidString(got[0].Text) || len(got[0].Text) != MaxTextBytes-1 {
			t.Errorf("got %+v, want one truncated line of %d valid UTF-8 bytes", got, MaxTextBytes-1)
		}
	})
}

func TestWithRedactor(t *testing.T) {
	secret := "hf_" + strings.Repeat("S", 40)
	text := redact.NewText([]string{"HF_TOKEN=" + secret})
	// The secret straddles the cut: redacting the cut text would miss it and show its first half.
	line := "RuntimeError: " + strings.Repeat("p", MaxTextBytes-30) + " token=" + secret + " rejected"
	m := defaultMatcher(t).WithRedactor(text.String)
	got, err := m.Scan(strings.NewReader(line), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{Number: 1, Text: text.String(line)[:MaxTextBytes], Pattern: "exception", Truncated: true}}
	if diff := cmp.Diff(want, got); diff != "" || strings.Contains(got[0].Text, "hf_") {
		t.Errorf("Scan with redactor (-want +got):\n%s", diff)
	}
	// The matcher it came from is unchanged.
	plain, err := defaultMatcher(t).Scan(strings.NewReader(line), 1, 0)
	if err != nil || len(plain) != 1 || !strings.Contains(plain[0].Text, "hf_") {
		t.Errorf("without redactor: %+v, %v", plain, err)
	}
}

// TestLineJSON pins the form of summary.json's failure.first_errors entries.
func TestLineJSON(t *testing.T) {
	b, err := json.Marshal([]Line{{Number: 14, Text: "RuntimeError: x \"y\"", Pattern: "exception", Truncated: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `[{"line":14,"text":"RuntimeError: x \"y\""}]`; got != want {
		t.Errorf("json = %s, want %s", got, want)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("RuntimeError: before\nok\n"), iotest.ErrReader(boom))
	got, err := defaultMatcher(t).Scan(r, 1, 0)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
	if diff := cmp.Diff([]Line{{Number: 1, Text: "RuntimeError: before", Pattern: "exception"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestConcurrentScans shares one matcher between goroutines, as the supervisor does for its roles.
func TestConcurrentScans(t *testing.T) {
	m := defaultMatcher(t)
	log := "Traceback (most recent call last):\n  File \"x.py\"\nRuntimeError: x\n"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := m.Scan(strings.NewReader(log), 1, 0)
			if err != nil || len(got) != 2 {
				t.Errorf("Scan = %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
}
