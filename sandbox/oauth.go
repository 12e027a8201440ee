package sandbox

import "net/http"

func (s *Sandbox) oauthHandler() http.Handler { return http.NotFoundHandler() }
