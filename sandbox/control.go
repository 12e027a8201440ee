package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// controlHandler is the control API (JSON, docs/sandbox.md) and the console.
func (s *Sandbox) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serveAsset(w, r, "assets/console.html") })
	mux.Handle("GET /assets/", assetHandler())
	mux.Handle("/shim/", http.StripPrefix("/shim", s.ShimHandler()))
	s.routePeople(mux)
	s.routeCustomers(mux)
	s.routeOA(mux)
	s.routeOAQR(mux)
	s.routeMassMsg(mux)
	s.routeOps(mux)
	return secureHeaders(mux)
}

func (s *Sandbox) routePeople(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/state", jsonAPI(func(*http.Request) (any, error) { return s.State(), nil }))
	mux.HandleFunc("POST /api/wechat-users", jsonCreate(func(in NewWeChatUser) (any, error) { return s.CreateWeChatUser(in) }))
	mux.HandleFunc("GET /api/wechat-users", jsonAPI(func(r *http.Request) (any, error) {
		return s.WeChatUsers(r.URL.Query().Get("q"), atoiDefault(r.URL.Query().Get("limit"), 100)), nil
	}))
	mux.HandleFunc("POST /api/employees", jsonCreate(func(in NewEmployee) (any, error) { return s.CreateEmployee(in) }))
	mux.HandleFunc("GET /api/employees", jsonAPI(func(*http.Request) (any, error) { return s.Employees(), nil }))
	mux.HandleFunc("POST /api/employees/delete", jsonBody(func(in struct {
		UserID string `json:"userid"`
	}) (any, error) {
		return okJSON(), s.DeleteEmployee(in.UserID)
	}))
	mux.HandleFunc("POST /api/licences", jsonBody(func(in LicenceInput) (any, error) { return okJSON(), s.SetLicences(in) }))
	mux.HandleFunc("POST /api/employees/update", jsonBody(func(in EmployeeUpdate) (any, error) { return s.UpdateEmployee(in) }))
	mux.HandleFunc("POST /api/departments/update", jsonBody(func(in DepartmentUpdate) (any, error) { return s.UpdateDepartment(in) }))
	mux.HandleFunc("POST /api/departments/delete", jsonBody(func(in struct {
		ID int `json:"id"`
	}) (any, error) {
		return okJSON(), s.DeleteDepartment(in.ID)
	}))
	mux.HandleFunc("POST /api/groups/update", jsonBody(func(in GroupChatUpdate) (any, error) { return okJSON(), s.UpdateGroupChat(in) }))
	mux.HandleFunc("POST /api/tags/rename", jsonBody(func(in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}) (any, error) {
		return s.RenameCorpTag(in.ID, in.Name)
	}))
	mux.HandleFunc("POST /api/departments", jsonCreate(func(in NewDepartment) (any, error) { return s.CreateDepartment(in) }))
	mux.HandleFunc("GET /api/departments", jsonAPI(func(*http.Request) (any, error) { return s.Departments(), nil }))
}

func (s *Sandbox) routeCustomers(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/customers/add", jsonCreate(func(in AddCustomerInput) (any, error) { return s.AddCustomer(in) }))
	mux.HandleFunc("POST /api/customers/delete", jsonBody(func(in DeleteCustomerInput) (any, error) { return okJSON(), s.DeleteCustomer(in) }))
	mux.HandleFunc("POST /api/customers/edit", jsonBody(func(in EditCustomerInput) (any, error) { return okJSON(), s.EditCustomer(in) }))
	mux.HandleFunc("POST /api/customers/transfer", jsonBody(func(in TransferCustomerInput) (any, error) { return okJSON(), s.TransferCustomer(in) }))
	mux.HandleFunc("GET /api/customers", jsonAPI(func(r *http.Request) (any, error) {
		return s.Customers(r.URL.Query().Get("employee"), atoiDefault(r.URL.Query().Get("limit"), 100)), nil
	}))
	mux.HandleFunc("POST /api/groups", jsonCreate(func(in NewGroupChat) (any, error) { return s.CreateGroupChat(in) }))
	mux.HandleFunc("GET /api/groups", jsonAPI(func(*http.Request) (any, error) { return s.GroupChats(), nil }))
	mux.HandleFunc("POST /api/groups/join", jsonBody(func(in GroupMembersInput) (any, error) { return okJSON(), s.JoinGroupChat(in) }))
	mux.HandleFunc("POST /api/groups/leave", jsonBody(func(in GroupMembersInput) (any, error) { return okJSON(), s.LeaveGroupChat(in) }))
	mux.HandleFunc("POST /api/groups/dismiss", jsonBody(func(in struct {
		ChatID string `json:"chat_id"`
	}) (any, error) {
		return okJSON(), s.DismissGroupChat(in.ChatID)
	}))
	mux.HandleFunc("POST /api/tags", jsonCreate(func(in NewCorpTag) (any, error) { return s.CreateCorpTag(in) }))
	mux.HandleFunc("POST /api/tags/delete", jsonBody(func(in struct {
		ID string `json:"id"`
	}) (any, error) {
		return okJSON(), s.DeleteCorpTag(in.ID)
	}))
	mux.HandleFunc("POST /api/seed", jsonBody(func(in SeedInput) (any, error) { return s.Seed(in) }))
}

func (s *Sandbox) routeOA(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/oa/subscribe", jsonBody(func(in OAEventInput) (any, error) { return okJSON(), s.Subscribe(in) }))
	mux.HandleFunc("POST /api/oa/unsubscribe", jsonBody(func(in OAEventInput) (any, error) { return okJSON(), s.Unsubscribe(in) }))
	mux.HandleFunc("POST /api/oa/scan", jsonBody(func(in OAEventInput) (any, error) { return okJSON(), s.Scan(in) }))
	type personRef struct {
		WeChatUser string `json:"wechat_user"`
	}
	mux.HandleFunc("POST /api/mp/login-code", jsonBody(func(in personRef) (any, error) {
		c, err := s.MPLoginCode(in.WeChatUser)
		return map[string]string{"code": c}, err
	}))
	mux.HandleFunc("POST /api/mp/phone-code", jsonBody(func(in personRef) (any, error) {
		c, err := s.MPPhoneCode(in.WeChatUser)
		return map[string]string{"code": c}, err
	}))
}

func (s *Sandbox) routeOps(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/callbacks", jsonAPI(func(*http.Request) (any, error) { return s.Callbacks(), nil }))
	mux.HandleFunc("POST /api/callbacks/flush", jsonAPI(func(r *http.Request) (any, error) {
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		return okJSON(), s.FlushCallbacks(ctx)
	}))
	mux.HandleFunc("POST /api/callbacks/url", jsonAPI(func(r *http.Request) (any, error) {
		var in struct {
			Target string `json:"target"` // wecom or official
			URL    string `json:"url"`
		}
		if err := decodeJSON(r, &in); err != nil {
			return nil, err
		}
		return okJSON(), s.setCallback(r.Context(), in.Target, in.URL)
	}))
	mux.HandleFunc("GET /api/outbox", jsonAPI(func(r *http.Request) (any, error) { return s.Outbox(r.URL.Query().Get("kind")), nil }))
	mux.HandleFunc("DELETE /api/outbox", jsonAPI(func(*http.Request) (any, error) { s.ClearOutbox(); return okJSON(), nil }))
	mux.HandleFunc("POST /api/faults", jsonCreate(func(in Fault) (any, error) { return s.AddFault(in) }))
	mux.HandleFunc("GET /api/faults", jsonAPI(func(*http.Request) (any, error) { return s.Faults(), nil }))
	mux.HandleFunc("DELETE /api/faults", jsonAPI(func(*http.Request) (any, error) { s.ClearFaults(); return okJSON(), nil }))
	mux.HandleFunc("POST /api/tokens/expire", jsonAPI(func(*http.Request) (any, error) { s.ExpireTokens(); return okJSON(), nil }))
	mux.HandleFunc("POST /api/tokens/revoke", jsonAPI(func(*http.Request) (any, error) { s.RevokeTokens(); return okJSON(), nil }))
	mux.HandleFunc("POST /api/snapshot", jsonAPI(func(*http.Request) (any, error) { return okJSON(), s.SaveSnapshot() }))
	mux.HandleFunc("GET /api/sidebar", jsonAPI(func(*http.Request) (any, error) { return s.SidebarContext(), nil }))
	mux.HandleFunc("POST /api/sidebar", jsonBody(func(in SidebarContext) (any, error) { return in, s.SetSidebarContext(in) }))
}

func (s *Sandbox) setCallback(ctx context.Context, target, u string) error {
	switch target {
	case targetWeCom:
		return s.SetWeComCallback(ctx, u)
	case targetOA:
		return s.SetOACallback(ctx, u)
	}
	return invalid(`target must be "wecom" or "official"`)
}

func okJSON() map[string]bool { return map[string]bool{"ok": true} }

// jsonAPI adapts fn: errors become {"error": …} with the *Error status (else 500).
func jsonAPI(fn func(*http.Request) (any, error)) http.HandlerFunc {
	return jsonStatus(http.StatusOK, fn)
}

func jsonStatus(status int, fn func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := fn(r)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				se = &Error{Status: http.StatusInternalServerError, Message: err.Error()}
			}
			writeJSON(w, se.Status, se)
			return
		}
		writeJSON(w, status, out)
	}
}

func bodyFunc[T any](fn func(T) (any, error)) func(*http.Request) (any, error) {
	return func(r *http.Request) (any, error) {
		var in T
		if err := decodeJSON(r, &in); err != nil {
			return nil, err
		}
		return fn(in)
	}
}

// jsonBody decodes the request body into T and calls fn.
func jsonBody[T any](fn func(T) (any, error)) http.HandlerFunc {
	return jsonStatus(http.StatusOK, bodyFunc(fn))
}

// jsonCreate is jsonBody answering 201 Created.
func jsonCreate[T any](fn func(T) (any, error)) http.HandlerFunc {
	return jsonStatus(http.StatusCreated, bodyFunc(fn))
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return invalid("bad JSON: %v", err)
	}
	return nil
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
		return n
	}
	return def
}
