// Command benchreport runs the project's benchmarks and prints one table of
// scenarios: our figure, the baseline measured in the same run, their ratio,
// the target and whether it is met. It also writes the table, with a
// description of the machine, to docs/benchmarks.md.
//
// Each benchmark measures its own baseline in alternating rounds and reports
// medians through b.ReportMetric; this tool only runs them, each in its own
// process (-benchtime 1x, so expensive setups run once), and judges the
// figures against the targets in scenarios.go.
//
//	go run ./scripts/benchreport [-out docs/benchmarks.md] [-bench regexp] [packages]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	out := flag.String("out", "docs/benchmarks.md", "Markdown report to write (empty: none)")
	pattern := flag.String("bench", ".", "benchmarks to run (go test -bench)")
	input := flag.String("input", "", "read go test output from this file instead of running the benchmarks")
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	before := cpuProbe()
	results, err := collect(*input, *pattern, pkgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	rows := judge(results)
	table := render(rows)
	fmt.Println()
	fmt.Print(table)
	if *out != "" {
		speed := fmt.Sprintf("Speed probe (one core sorting 2M integers; a shared machine's speed varies): %.1fM/s before the run, %.1fM/s after", before, cpuProbe())
		if err := os.WriteFile(*out, []byte(report(table, speed)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		fmt.Println("\nwritten to", *out)
	}
	for _, r := range rows {
		if r.Status == "FAIL" {
			os.Exit(1)
		}
	}
}

// collect runs the benchmarks (echoing their output) or reads a saved run.
// Each benchmark runs in its own `go test` process: in one process, what a
// heavy scenario leaves behind (its load's stragglers, its heap, its
// database's dirty buffers) skewed the next one's tail latencies.
func collect(input, pattern string, pkgs []string) (map[string]map[string]float64, error) {
	if input != "" {
		f, err := os.Open(input)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return parse(f, io.Discard)
	}
	benches, err := list(pattern, pkgs)
	if err != nil {
		return nil, err
	}
	results := map[string]map[string]float64{}
	var failed []string
	for _, b := range benches {
		got, err := runOne(b.pkg, b.name)
		for k, v := range got {
			results[k] = v
		}
		if err != nil {
			failed = append(failed, b.name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("benchmarks failed: %s", strings.Join(failed, "; "))
	}
	return results, nil
}

type bench struct{ pkg, name string }

// list returns the benchmarks matching pattern, package by package.
func list(pattern string, pkgs []string) ([]bench, error) {
	out, err := exec.Command("go", append([]string{"test", "-list", "^Benchmark"}, pkgs...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("go test -list: %w", err)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	var benches []bench
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 1 && strings.HasPrefix(fields[0], "Benchmark"):
			names = append(names, fields[0])
		case len(fields) >= 2 && (fields[0] == "ok" || fields[0] == "?"):
			for _, n := range names {
				if re.MatchString(n) {
					benches = append(benches, bench{pkg: fields[1], name: n})
				}
			}
			names = nil
		}
	}
	return benches, nil
}

// runOne runs one benchmark (with its sub-benchmarks) once in its own process.
func runOne(pkg, name string) (map[string]map[string]float64, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^"+name+"$", "-benchtime", "1x", "-timeout", "60m", pkg)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	results, perr := parse(stdout, os.Stdout)
	if err := cmd.Wait(); err != nil {
		return results, err
	}
	return results, perr
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse reads `go test -bench` output: name → unit → value.
func parse(r io.Reader, echo io.Writer) (map[string]map[string]float64, error) {
	results := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		metrics := map[string]float64{}
		fields := strings.Fields(m[3])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err == nil {
				metrics[fields[i+1]] = v
			}
		}
		results[m[1]] = metrics
	}
	return results, sc.Err()
}

// report wraps the table with the machine's description.
func report(table string, extra ...string) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Produced by `make bench` (scripts/benchreport). Every figure is a median over alternating rounds of the\n")
	b.WriteString("scenario and its baseline, measured in the same run on the same machine, so ratios are comparable across\n")
	b.WriteString("machines even when absolute numbers are not.\n\n")
	fmt.Fprintf(&b, "Run: %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("Machine:\n\n")
	for _, l := range append(machine(), extra...) {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n")
	b.WriteString(table)
	return b.String()
}
