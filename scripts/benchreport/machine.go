package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
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
