package main

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// machine describes where the benchmarks ran.
func machine() []string {
	lines := []string{"CPU: " + cpuModel() + ", " + strconv.Itoa(runtime.NumCPU()) + " logical cores", "Memory: " + memTotal(),
		"Go: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if v := command("pg_config", "--version"); v != "" {
		lines = append(lines, "PostgreSQL binaries: "+v)
	} else if v := command("sh", "-c", "ls -d /usr/lib/postgresql/*/bin | tail -1"); v != "" {
		lines = append(lines, "PostgreSQL binaries: "+v)
	}
	if v := command("uname", "-sr"); v != "" {
		lines = append(lines, "Kernel: "+v)
	}
	return lines
}

// cpuProbe is the single-core SHA-256 rate in MB/s, the median of five
// tries: absolute figures of two runs compare only at similar probes.
func cpuProbe() float64 {
	buf := make([]byte, 32<<20)
	rates := make([]float64, 5)
	for i := range rates {
		t0 := time.Now()
		sha256.Sum256(buf)
		rates[i] = float64(len(buf)) / 1e6 / time.Since(t0).Seconds()
	}
	slices.Sort(rates)
	return rates[len(rates)/2]
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:"))
		}
	}
	return "unknown"
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
