package handlers

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
)

// Managers are not shown the sections only admins may open.
func TestAdminNavByRole(t *testing.T) {
	labels := func(role string) map[string]bool {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Set(keyAdmin, Admin{Kind: "local", ID: "1", Name: "x", Role: role})
		out := map[string]bool{}
		for _, n := range adminShell(c, "t", "/admin").Nav {
			out[n.URL] = true
		}
		return out
	}
	admin, manager := labels(services.RoleAdmin), labels(services.RoleManager)
	for _, s := range adminSections {
		if !admin[s.url] {
			t.Errorf("admin does not see %s", s.url)
		}
		if manager[s.url] == s.adminOnly {
			t.Errorf("manager sees %s: %v (admin only: %v)", s.url, manager[s.url], s.adminOnly)
		}
	}
}
