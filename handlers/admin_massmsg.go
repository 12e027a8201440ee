package handlers

import "github.com/gin-gonic/gin"

// MassMessages is what the console needs of WeCom mass messages.
type MassMessages interface{}

func (h *consoleHandler) registerMassMessages(g *gin.RouterGroup) {
	if h.MassMessages == nil {
		return
	}
}
