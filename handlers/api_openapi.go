package handlers

import _ "embed"

// openAPIDoc is the OpenAPI 3 document of /api/v1; TestOpenAPIInStep keeps it
// in step with the registered routes.
//
//go:embed openapi.json
var openAPIDoc []byte
