package wecom

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// Vectors from /work/shared/reference/test-vectors, copied into testdata so
// the test does not depend on a path outside the repository.
func TestJSSDKSignatureVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/jssdk-signature.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			ID     string
			Inputs struct {
				Ticket    string `json:"jsapi_ticket"`
				Noncestr  string
				Timestamp string
				URL       string
			}
			Expected string
		}
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, tc := range f.Cases {
		t.Run(tc.ID, func(t *testing.T) {
			in := tc.Inputs
			if got := JSSDKSignature(in.Ticket, in.Noncestr, in.Timestamp, in.URL); got != tc.Expected {
				t.Errorf("JSSDKSignature = %s, want %s", got, tc.Expected)
			}
			if got := wxcrypto.JSSDKSignature(in.Ticket, in.Noncestr, in.Timestamp, in.URL); got != tc.Expected {
				t.Errorf("wxcrypto.JSSDKSignature = %s, want %s", got, tc.Expected)
			}
			// The fragment is not part of the signed URL.
			if got := JSSDKSignature(in.Ticket, in.Noncestr, in.Timestamp, in.URL+"#/sidebar"); got != tc.Expected {
				t.Errorf("with fragment = %s, want %s", got, tc.Expected)
			}
		})
	}
}
