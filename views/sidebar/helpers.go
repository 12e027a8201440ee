package sidebar

import (
	"encoding/json"
	"strings"
)

func chipTone(tone string) string {
	if tone == "" {
		return ""
	}
	return "ma-chip--" + tone
}

func momentTone(tone string) string {
	if tone == "" {
		return ""
	}
	return "ma-timeline__item--" + tone
}

func joinNames(names []string) string { return strings.Join(names, "、") }

// tagVals is the hx-vals JSON naming the toggled tag (data, not script:
// allowEval stays off).
func tagVals(id string) string {
	b, _ := json.Marshal(map[string]string{"tag": id})
	return string(b)
}
