package main

import (
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

// cpuProbe is the single-core rate, in millions of elements per second, of
// sorting 2M pseudo-random integers (16 MB: caches and memory as well as
// the core), the median of five tries. Absolute figures of two runs compare
// only at similar probes; a neighbour's load on a shared host shows here.
func cpuProbe() float64 {
	xs := make([]uint64, 2<<20)
	rates := make([]float64, 5)
	for i := range rates {
		x := uint64(i + 1)
		for j := range xs {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			xs[j] = x
		}
		t0 := time.Now()
		slices.Sort(xs)
		rates[i] = float64(len(xs)) / 1e6 / time.Since(t0).Seconds()
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
