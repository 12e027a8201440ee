package sandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// fakeApp is the app's callback receiver, built on wxcrypto like the real one.
type fakeApp struct {
	t       *testing.T
	crypter *wxcrypto.Crypter
	answer  func(attempt int) (int, string)
	mu      sync.Mutex
	got     []string // decrypted plaintexts
	posts   int
}

func newFakeApp(t *testing.T, s *Sandbox, answer func(int) (int, string)) (*fakeApp, *httptest.Server) {
	c := s.Options().Corp
	cr, err := wxcrypto.NewCrypter(c.Token, c.EncodingAESKey, c.CorpID)
	if err != nil {
		t.Fatal(err)
	}
	app := &fakeApp{t: t, crypter: cr, answer: answer}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return app, srv
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodGet {
		echo, err := a.crypter.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		_, _ = w.Write(echo)
		return
	}
	body, _ := io.ReadAll(r.Body)
	msg, err := a.crypter.OpenEnvelope(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
	a.mu.Lock()
	a.posts++
	attempt := a.posts
	if err == nil {
		a.got = append(a.got, string(msg))
	}
	a.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status, text := a.answer(attempt)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

func flush(t *testing.T, s *Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.FlushCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
}

func lastCallback(t *testing.T, s *Sandbox) CallbackRecord {
	t.Helper()
	cbs := s.Callbacks()
	if len(cbs) == 0 {
		t.Fatal("no callbacks")
	}
	return cbs[len(cbs)-1]
}

func TestCallbackVerifiedDeliveredAndDecrypted(t *testing.T) {
	e := start(t)
	app, srv := newFakeApp(t, e.s, func(int) (int, string) { return 200, "success" })
	if err := e.s.SetWeComCallback(context.Background(), srv.URL+"/wecom/callback"); err != nil {
		t.Fatal(err)
	}
	ids := e.seedSmall("zhangsan", 1)
	flush(t, e.s)
	rec := lastCallback(t, e.s)
	if rec.Status != CallbackDelivered || len(rec.Attempts) != 1 || rec.Event != "change_external_contact/add_external_contact" {
		t.Fatalf("record = %+v", rec)
	}
	got := app.got[len(app.got)-1]
	for _, want := range []string{"<ChangeType><![CDATA[add_external_contact]]></ChangeType>", "<UserID><![CDATA[zhangsan]]></UserID>",
		"<ExternalUserID><![CDATA[" + ids[0] + "]]></ExternalUserID>", "<State><![CDATA[ch1]]></State>", "<WelcomeCode><![CDATA["} {
		if !strings.Contains(got, want) {
			t.Errorf("plaintext lacks %s:\n%s", want, got)
		}
	}
}

func TestCallbackRetriedThreeTimesAndRecorded(t *testing.T) {
	tests := []struct {
		name   string
		answer func(int) (int, string)
		want   string
		tries  int
	}{
		{"HTTP 500", func(int) (int, string) { return 500, "oops" }, "HTTP 500", 4},
		{"malformed body", func(int) (int, string) { return 200, "<html>not a reply" }, "malformed answer", 4},
		{"recovers on the third try", func(n int) (int, string) {
			if n < 3 {
				return 503, ""
			}
			return 200, ""
		}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			_, srv := newFakeApp(t, e.s, tt.answer)
			e.seedSmall("zhangsan", 0)
			e.s.setCallbackURL(targetWeCom, srv.URL) // saved without verification for this test
			u, _ := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "客户"})
			if _, err := e.s.AddCustomer(AddCustomerInput{WeChatUser: u.ID, EmployeeUserID: "zhangsan"}); err != nil {
				t.Fatal(err)
			}
			flush(t, e.s)
			rec := lastCallback(t, e.s)
			if len(rec.Attempts) != tt.tries {
				t.Fatalf("attempts = %d, want %d: %+v", len(rec.Attempts), tt.tries, rec)
			}
			first := rec.Attempts[0]
			if tt.want != "" && (rec.Status != CallbackFailed || !strings.Contains(first.Reason, tt.want) || first.Answer == "" && tt.want != "HTTP 500") {
				t.Fatalf("record = %+v", rec)
			}
			if tt.want == "" && (rec.Status != CallbackDelivered || !rec.Attempts[2].OK) {
				t.Fatalf("record = %+v", rec)
			}
		})
	}
}

func TestCallbackEncryptedReplyAccepted(t *testing.T) {
	e := start(t)
	var app *fakeApp
	app, srv := newFakeApp(t, e.s, func(int) (int, string) {
		reply, err := app.crypter.SealReply([]byte("<xml><MsgType><![CDATA[text]]></MsgType></xml>"), "1", "2")
		if err != nil {
			t.Error(err)
		}
		return 200, string(reply)
	})
	e.s.setCallbackURL(targetWeCom, srv.URL)
	e.seedSmall("zhangsan", 1)
	flush(t, e.s)
	if rec := lastCallback(t, e.s); rec.Status != CallbackDelivered {
		t.Fatalf("a valid encrypted reply is an acknowledgement: %+v", rec)
	}
}

func TestURLVerificationFailureNotSaved(t *testing.T) {
	e := start(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "\"wrong\"\n")
	}))
	defer srv.Close()
	if err := e.s.SetWeComCallback(context.Background(), srv.URL); err == nil {
		t.Fatal("a wrong echostr answer must fail verification")
	}
	if e.s.Options().Corp.CallbackURL != "" {
		t.Fatal("URL saved despite failed verification")
	}
	if rec := lastCallback(t, e.s); rec.Kind != "verify" || rec.Status != CallbackFailed {
		t.Fatalf("record = %+v", rec)
	}
}

func TestOACallbackSafeAndPlain(t *testing.T) {
	for _, mode := range []string{ModeSafe, ModePlain} {
		t.Run(mode, func(t *testing.T) {
			e := start(t, func(o *Options) { o.Official.Mode = mode })
			o := e.s.Options().Official
			got := make(chan string, 4)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if err := wxcrypto.CheckSignature(q.Get("signature"), o.Token, q.Get("timestamp"), q.Get("nonce")); err != nil {
					http.Error(w, "bad signature", 403)
					return
				}
				if r.Method == http.MethodGet {
					_, _ = io.WriteString(w, q.Get("echostr"))
					return
				}
				body, _ := io.ReadAll(r.Body)
				if q.Get("encrypt_type") == "aes" {
					cr, _ := wxcrypto.NewCrypter(o.Token, o.EncodingAESKey, o.AppID)
					msg, err := cr.OpenEnvelope(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
					if err != nil {
						http.Error(w, err.Error(), 400)
						return
					}
					body = msg
				}
				got <- string(body)
				_, _ = io.WriteString(w, "success")
			}))
			defer srv.Close()
			if err := e.s.SetOACallback(context.Background(), srv.URL); err != nil {
				t.Fatal(err)
			}
			u, _ := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "粉丝"})
			if err := e.s.Scan(OAEventInput{WeChatUser: u.ID, Scene: "123123"}); err != nil {
				t.Fatal(err)
			}
			flush(t, e.s)
			msg := <-got
			if !strings.Contains(msg, "<EventKey><![CDATA[qrscene_123123]]></EventKey>") || !strings.Contains(msg, o.OriginalID) {
				t.Fatalf("plaintext = %s", msg)
			}
		})
	}
}
