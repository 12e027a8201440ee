package sandbox

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// Fault makes matching API requests misbehave: answer an errcode (-1 busy,
// 45009 rate limit, 42001 / 40014 token...), wait LatencyMS first, or drop
// the connection (Reset). Times counts affected requests (-1 = until
// removed); Rate, when in (0,1), affects only that fraction of matches.
type Fault struct {
	ID        int     `json:"id"`
	Host      string  `json:"host,omitempty"` // "wecom", "official" or "" for both
	Path      string  `json:"path"`           // exact API path, e.g. /cgi-bin/externalcontact/get
	ErrCode   int     `json:"errcode,omitempty"`
	ErrMsg    string  `json:"errmsg,omitempty"`
	LatencyMS int     `json:"latency_ms,omitempty"`
	Reset     bool    `json:"reset,omitempty"`
	Times     int     `json:"times"`
	Rate      float64 `json:"rate,omitempty"`
	Hits      int     `json:"hits"`
}

// AddFault installs a fault and returns it with its id. Times 0 means 1.
func (s *Sandbox) AddFault(f Fault) (Fault, error) {
	if f.Path == "" {
		return Fault{}, fmt.Errorf("sandbox: fault needs a path")
	}
	if f.ErrCode == 0 && f.LatencyMS == 0 && !f.Reset {
		return Fault{}, fmt.Errorf("sandbox: fault needs errcode, latency_ms or reset")
	}
	if f.Rate < 0 || f.Rate > 1 {
		return Fault{}, fmt.Errorf("sandbox: fault rate %v outside [0,1]", f.Rate)
	}
	if f.Times == 0 {
		f.Times = 1
	}
	f.Path = cleanPath(f.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	f.ID = 1
	for _, g := range s.w.Faults {
		f.ID = max(f.ID, g.ID+1)
	}
	s.w.Faults = append(s.w.Faults, &f)
	s.touch()
	return f, nil
}

// Faults lists the installed faults.
func (s *Sandbox) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.w.Faults))
	for _, f := range s.w.Faults {
		out = append(out, *f)
	}
	return out
}

// ClearFaults removes every fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Faults = nil
	s.touch()
}

// takeFault consumes one use of the first fault matching the request.
func (s *Sandbox) takeFault(host, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.w.Faults {
		if f.Path != path || (f.Host != "" && f.Host != host) {
			continue
		}
		if f.Rate > 0 && f.Rate < 1 && s.rng.Float64() >= f.Rate {
			continue
		}
		f.Hits++
		cp := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.w.Faults = append(s.w.Faults[:i:i], s.w.Faults[i+1:]...)
			}
		}
		s.touch()
		return &cp
	}
	return nil
}

// injectFault applies a fault; it reports whether the request was answered.
func (s *Sandbox) injectFault(w http.ResponseWriter, r *http.Request, host, path string) bool {
	f := s.takeFault(host, path)
	if f == nil {
		return false
	}
	if f.LatencyMS > 0 {
		select {
		case <-time.After(time.Duration(f.LatencyMS) * time.Millisecond):
		case <-r.Context().Done():
			return true
		}
	}
	if f.Reset {
		resetConnection(w)
		return true
	}
	if f.ErrCode == 0 {
		return false
	}
	msg := f.ErrMsg
	if msg == "" {
		msg = faultMessage(f.ErrCode)
	}
	s.mu.Lock()
	body := s.renderError(apiErr(f.ErrCode, msg), r.Host)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
	return true
}

func faultMessage(code int) string {
	switch code {
	case -1:
		return "system busy"
	case 45009:
		return "api freq out of limit"
	case 45033:
		return "api concurrent out of limit"
	case 42001:
		return "access_token expired"
	case 40014:
		return "invalid access_token"
	case 40001:
		return "invalid credential, access_token is invalid or not latest"
	}
	return "sandbox injected error"
}

// resetConnection drops the TCP connection with an RST, like a dead upstream.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
