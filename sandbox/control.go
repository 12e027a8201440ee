package sandbox

import "net/http"

func (s *Sandbox) controlHandler() http.Handler { return http.NotFoundHandler() }
