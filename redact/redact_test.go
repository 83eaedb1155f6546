package redact

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIsSecretName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		// The original words, anywhere in the name and in any case.
		{"HF_TOKEN", true}, {"hf_token", true}, {"hfToken", true}, {"AWS_SECRET_ACCESS_KEY", true},
		{"API_KEY", true}, {"KEYRING", true}, {"MONKEY", true}, {"DB_PASSWORD", true}, {"password", true},
		// The supervisor's attempt id is no credential.
		{"TRTLLM_PERF_RUN_TOKEN", false}, {"MY_TRTLLM_PERF_RUN_TOKEN", true},
		// PAT as a word of its own.
		{"PAT", true}, {"GH_PAT", true}, {"GITLAB_PAT", true}, {"pat", true}, {"ghPat", true},
		{"GH_PAT_FOR_CI", true}, {"GH_PAT2", true}, {"GITHUB-PAT", true},
		{"PATH", false}, {"LD_LIBRARY_PATH", false}, {"PYTHONPATH", false}, {"PATTERN", false},
		{"DISPATCH", false}, {"SPAT", false}, {"PATCH_LEVEL", false}, {"MANPATH", false}, {"ghPath", false},
		// The other new words.
		{"PASSWD", true}, {"LDAP_PASSWD", true}, {"DB_CREDENTIALS", true}, {"GOOGLE_APPLICATION_CREDENTIALS", true},
		{"COOKIE", true}, {"JUPYTER_COOKIE_SECRET", true}, {"SESSION_ID", true}, {"AWS_SESSION", true},
		{"PRIVATE_REGISTRY", true}, {"sshPrivate", true},
		// AUTH for authentication and authorization, not for authors or X's authority file.
		{"AUTH", true}, {"HTTP_AUTH", true}, {"AUTH_HEADER", true}, {"OAUTH_CLIENT", true}, {"basicAuth", true},
		{"AUTHORIZATION", true}, {"PROXY_AUTHORIZATION", true}, {"AUTHENTICATION", true}, {"SSH_AUTH_SOCK", true},
		{"GIT_AUTHOR_AUTH", true},
		{"AUTHOR", false}, {"AUTHORS", false}, {"GIT_AUTHOR_NAME", false}, {"GIT_AUTHOR_EMAIL", false},
		{"XAUTHORITY", false},
		// What the pipeline needs to show.
		{"SLURM_JOB_ID", false}, {"SLURM_JOB_PARTITION", false}, {"SLURM_PROCID", false},
		{"CUDA_VISIBLE_DEVICES", false}, {"pytestCommand", false}, {"NVIDIA_IMEX_CHANNELS", false},
		{"UCX_TLS", false}, {"UCX_NET_DEVICES", false}, {"NCCL_IB_HCA", false}, {"HOSTNAME", false},
		{"llmSrcNode", false}, {"jobWorkspace", false}, {"testOutputDir", false}, {"HF_HOME", false},
		{"", false},
	} {
		if got := IsSecretName(tc.name); got != tc.want {
			t.Errorf("IsSecretName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Tokens of each format, made up but shaped as the real ones.
var (
	hfToken      = "hf_" + strings.Repeat("aB3", 12)
	ghToken      = "ghp_" + strings.Repeat("x9Y", 12)
	ghFineToken  = "github_pat_11ABCDEFG0123456789_" + strings.Repeat("z", 59)
	openAIKey    = "sk-proj-" + strings.Repeat("Ab1_", 10)
	awsKeyID     = "AKIAIOSFODNN7EXAMPLE"
	awsSessionID = "ASIA" + strings.Repeat("Q7", 8)
	nvidiaKey    = "nvapi-" + strings.Repeat("Kq9-", 16)
	slackToken   = "xoxb-1234567890-0987654321-" + strings.Repeat("s", 24)
	jwt          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{hfToken, Mask},
		{"HF_HUB_TOKEN=" + hfToken, "HF_HUB_TOKEN=" + Mask},
		{"login with " + hfToken + ", then", "login with " + Mask + ", then"},
		{ghToken, Mask}, {"gho_" + strings.Repeat("a", 36), Mask}, {"ghu_" + strings.Repeat("b", 36), Mask},
		{"ghs_" + strings.Repeat("c", 36), Mask}, {"ghr_" + strings.Repeat("d", 36), Mask},
		{"https://x:" + ghToken + "@github.com/o/r.git", "https://x:" + Mask + "@github.com/o/r.git"},
		{ghFineToken, Mask},
		{"Authorization: Bearer " + openAIKey, "Authorization: Bearer " + Mask},
		{"sk-" + strings.Repeat("a1", 24), Mask},
		{"aws " + awsKeyID + " " + awsSessionID, "aws " + Mask + " " + Mask},
		{"NGC_API=" + nvidiaKey, "NGC_API=" + Mask},
		{slackToken, Mask},
		{"token " + jwt + ".", "token " + Mask + "."},
		{"two: " + hfToken + " " + jwt, "two: " + Mask + " " + Mask},

		// Near misses stay.
		{"pip install sk-learn scikit-learn", ""},
		{"sk-learn==1.3.0 and sk-short_1234", ""},
		{"task-" + strings.Repeat("a", 30), ""}, // sk- inside a word
		{"from hf_hub import hf_hub_download", ""},
		{"hf_" + strings.Repeat("a", 29), ""},        // too short
		{"hf_" + strings.Repeat("a", 40) + "", Mask}, // long enough
		{"ghp_" + strings.Repeat("a", 35), ""},
		{"ghx_" + strings.Repeat("a", 36), ""},
		{"AKIA" + strings.Repeat("A", 15), ""},
		{"AKIA" + strings.Repeat("A", 17), ""}, // not a key id: one too many
		{"akia" + strings.Repeat("a", 16), ""},
		{"nvapi-short", ""},
		{"xoxq-1234567890-abc", ""},
		{"SGVsbG8gd29ybGQsIHRoaXMgaXMgYmFzZTY0.dGhpcyBpcyBub3QgYSB0b2tlbg.c2lnbmF0dXJl", ""}, // base64, no eyJ
		{"eyJhbGciOiJIUzI1NiJ9", ""},                                                         // one segment
		{"version 1.2.3, PATH=/usr/bin, CUDA_VISIBLE_DEVICES=0,1", ""},
		{"", ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := Tokens(tc.in); got != want {
			t.Errorf("Tokens(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

func TestEnv(t *testing.T) {
	got := Env(map[string]string{
		"HF_TOKEN": "hf_abc1", "EMPTY_KEY": "", "PATH": "/bin", "GH_PAT": "mypat123",
		"CMD": "curl -H hf_abc1 -u x:mypat123", "MY_VAR": "x " + ghToken,
	})
	want := map[string]string{
		"HF_TOKEN": Mask, "EMPTY_KEY": "", "PATH": "/bin", "GH_PAT": Mask,
		"CMD": "curl -H " + Mask + " -u x:" + Mask, "MY_VAR": "x " + Mask,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	gotList := EnvList([]string{
		"HF_TOKEN=hf_abc1", "PATH=/bin", "MY_PASSWORD=a=b", "broken", "WHATEVER=" + nvidiaKey,
		"pytestCommand=HF_TOKEN=hf_abc1 pytest", "DB_CREDENTIALS=user:pw1234",
	})
	wantList := []string{
		"HF_TOKEN=" + Mask, "PATH=/bin", "MY_PASSWORD=" + Mask, "broken", "WHATEVER=" + Mask,
		"pytestCommand=HF_TOKEN=" + Mask + " pytest", "DB_CREDENTIALS=" + Mask,
	}
	if diff := cmp.Diff(wantList, gotList); diff != "" {
		t.Errorf("EnvList (-want +got):\n%s", diff)
	}
}

func TestText(t *testing.T) {
	text := NewText([]string{"HF_TOKEN=hf_secret", "API_KEY=hf_secret_longer", "SHORT_KEY=ab", "PATH=/bin", "GH_PAT=pat-value"})
	got := text.String("using hf_secret_longer and hf_secret and pat-value; ab stays; /bin stays; " + awsKeyID + " too")
	want := "using " + Mask + " and " + Mask + " and " + Mask + "; ab stays; /bin stays; " + Mask + " too"
	if got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	var none *Text
	if got := none.String("x"); got != "x" {
		t.Errorf("nil Text changed the text: %q", got)
	}
	if got := none.String("key " + jwt); got != "key "+Mask {
		t.Errorf("nil Text left a token: %q", got)
	}
}
