package main

import (
	"fmt"
	"strings"
)

// scenario is one line of the report: which benchmark, which of its metrics
// are our figure and the baseline, and the target.
type scenario struct {
	Name  string
	Bench string // benchmark name without the -GOMAXPROCS suffix
	Ours  string // metric unit of our figure
	Base  string // metric unit of the baseline, "" when the target is absolute
	Ratio string // metric unit of the ratio the benchmark computed, "" for none
	// Target says what must hold, for people; Pass checks it.
	Target string
	Pass   func(m map[string]float64) bool
}

type row struct {
	Scenario, Ours, Base, Ratio, Target, Status string
}

func judge(results map[string]map[string]float64) []row {
	var rows []row
	for _, s := range scenarios() {
		m, ok := results[s.Bench]
		r := row{Scenario: s.Name, Target: s.Target}
		if !ok {
			r.Ours, r.Base, r.Ratio, r.Status = "—", "—", "—", "MISSING"
			rows = append(rows, r)
			continue
		}
		r.Ours = figure(m, s.Ours)
		r.Base = figure(m, s.Base)
		r.Ratio = figure(m, s.Ratio)
		r.Status = "pass"
		if !s.Pass(m) {
			r.Status = "FAIL"
		}
		rows = append(rows, r)
	}
	return rows
}

func figure(m map[string]float64, unit string) string {
	if unit == "" {
		return "—"
	}
	v, ok := m[unit]
	if !ok {
		return "?"
	}
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.3g %s", v, unit)
	}
}

// render returns the rows as a Markdown table.
func render(rows []row) string {
	var b strings.Builder
	b.WriteString("| Scenario | Ours | Baseline (same run) | Ratio | Target | Result |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Ours, r.Base, r.Ratio, r.Target, r.Status)
	}
	return b.String()
}

// at most / at least helpers for Pass functions.
func atLeast(unit string, v float64) func(map[string]float64) bool {
	return func(m map[string]float64) bool { x, ok := m[unit]; return ok && x >= v }
}

func atMost(unit string, v float64) func(map[string]float64) bool {
	return func(m map[string]float64) bool { x, ok := m[unit]; return ok && x <= v }
}

func all(checks ...func(map[string]float64) bool) func(map[string]float64) bool {
	return func(m map[string]float64) bool {
		for _, c := range checks {
			if !c(m) {
				return false
			}
		}
		return true
	}
}
