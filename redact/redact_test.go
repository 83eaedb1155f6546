package redact

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"HF_TOKEN": true, "hf_token": true, "AWS_SECRET_ACCESS_KEY": true, "API_KEY": true, "KEYRING": true,
		"DB_PASSWORD": true, "password": true, "TRTLLM_PERF_RUN_TOKEN": false, "PATH": false, "pytestCommand": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestEnv(t *testing.T) {
	got := Env(map[string]string{"HF_TOKEN": "hf_abc", "EMPTY_KEY": "", "PATH": "/bin"})
	want := map[string]string{"HF_TOKEN": Mask, "EMPTY_KEY": "", "PATH": "/bin"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	gotList := EnvList([]string{"HF_TOKEN=hf_abc", "PATH=/bin", "MY_PASSWORD=a=b", "broken"})
	wantList := []string{"HF_TOKEN=" + Mask, "PATH=/bin", "MY_PASSWORD=" + Mask, "broken"}
	if diff := cmp.Diff(wantList, gotList); diff != "" {
		t.Errorf("EnvList (-want +got):\n%s", diff)
	}
}

func TestText(t *testing.T) {
	text := NewText([]string{"HF_TOKEN=hf_secret", "API_KEY=hf_secret_longer", "SHORT_KEY=ab", "PATH=/bin"})
	got := text.String("using hf_secret_longer and hf_secret; ab stays; /bin stays")
	want := "using " + Mask + " and " + Mask + "; ab stays; /bin stays"
	if got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	var none *Text
	if got := none.String("x"); got != "x" {
		t.Errorf("nil Text changed the text: %q", got)
	}
}
