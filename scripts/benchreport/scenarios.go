package main

// scenarios lists every benchmark scenario of the project with its target
// (issues 3–7 and 9). A scenario whose benchmark did not run shows as MISSING
// and fails the run.
func scenarios() []scenario {
	return []scenario{
		{Name: "Identity link, 4 connections", Bench: "BenchmarkLink/conns=4", Ours: "link/s", Base: "plain/s",
			Ratio: "link/plain", Target: "≥ 0.6× plain insert", Pass: atLeast("link/plain", 0.6)},
		{Name: "Identity link, 8 connections", Bench: "BenchmarkLink/conns=8", Ours: "link/s", Base: "plain/s",
			Ratio: "link/plain", Target: "≥ 0.6× plain insert", Pass: atLeast("link/plain", 0.6)},
		{Name: "Worst-case merge (2×1,000 identities)", Bench: "BenchmarkMergeWorstCase", Ours: "µs/moved_identity",
			Target: "≤ 20 µs per moved identity", Pass: atMost("µs/moved_identity", 20)},
		{Name: "Timeline first page, 100k-moment user", Bench: "BenchmarkTimeline/first", Ours: "µs/page",
			Base: "anchor_µs/page", Ratio: "ratio", Target: "≤ 1 ms", Pass: atMost("µs/page", 1000)},
		{Name: "Timeline page 50,000 deep", Bench: "BenchmarkTimeline/deep50000", Ours: "µs/page",
			Base: "anchor_µs/page", Ratio: "ratio", Target: "≤ 1 ms", Pass: atMost("µs/page", 1000)},
		{Name: "Identity audit, 1M identities", Bench: "BenchmarkAudit", Ours: "audit_s", Base: "read+copy_s",
			Ratio: "audit/read+copy", Target: "≤ 1.3× read + copy", Pass: atMost("audit/read+copy", 1.3)},
		{Name: "Form submission over HTTP (rate)", Bench: "BenchmarkFormSubmitHTTP", Ours: "submissions/s",
			Base: "plain-submissions/s", Ratio: "ratio", Target: "≥ 2,000/s, ≥ 0.6× plain-insert path, 0 lost",
			Pass: all(atLeast("submissions/s", 2000), atLeast("ratio", 0.6), atMost("lost", 0))},
		{Name: "Form submission p99 at 1,000/s", Bench: "BenchmarkFormSubmitHTTP", Ours: "p99-post-ms@1000/s",
			Target: "≤ 25 ms", Pass: atMost("p99-post-ms@1000/s", 25)},
		{Name: "Callback ack at 2,000/s (baseline: a SELECT 1 endpoint)", Bench: "BenchmarkCallbackAck",
			Ours: "ack-p99-ms", Base: "select1-p99-ms", Target: "p99 ≤ 5 ms at 2,000/s",
			Pass: all(atMost("ack-p99-ms", 5), atLeast("events/s", 2000))},
		{Name: "Inbox insert vs plain insert", Bench: "BenchmarkCallbackAck", Ratio: "inbox/plain-rate",
			Target: "≥ 0.9× plain insert", Pass: atLeast("inbox/plain-rate", 0.9)},
		{Name: "Sidebar profile + timeline, light mix at 1,000/s", Bench: "BenchmarkSidebarProfile",
			Ours: "light_p99_ms@1000rps", Base: "pingdb_p99_ms@1000rps", Ratio: "light/pingdb_p99",
			Target: "p99 ≤ 10 ms and ≤ 5× SELECT 1", Pass: all(atMost("light_p99_ms@1000rps", 10), atMost("light/pingdb_p99", 5))},
		{Name: "Sidebar, 100k-moment user at 300/s", Bench: "BenchmarkSidebarProfile",
			Ours: "heavy_p99_ms@300rps", Base: "pingdb_p99_ms@300rps", Ratio: "heavy/pingdb_p99",
			Target: "p99 ≤ 10 ms and ≤ 5× SELECT 1", Pass: all(atMost("heavy_p99_ms@300rps", 10), atMost("heavy/pingdb_p99", 5))},
		{Name: "Sync of 100k contacts from the sandbox", Bench: "BenchmarkSyncContacts100k", Ours: "s/sync",
			Base: "plain_rows/s", Ratio: "sync/plain", Target: "≤ 30 s, all present", Pass: atMost("s/sync", 30)},
		{Name: "Sandbox batch/get_by_user", Bench: "BenchmarkBatchGetByUser", Ours: "contacts/s",
			Target: "≥ 5,000 contacts/s", Pass: atLeast("contacts/s", 5000)},
		{Name: "Sandbox seed of 100k contacts", Bench: "BenchmarkBatchGetByUser", Ours: "seed_s",
			Target: "≤ 10 s", Pass: atMost("seed_s", 10)},
		{Name: "templ render of the sidebar vs html/template", Bench: "BenchmarkSidebarRender", Ours: "templ_µs/op",
			Base: "html_template_µs/op", Ratio: "speedup", Target: "≥ 3.5× faster", Pass: atLeast("speedup", 3.5)},
	}
}
