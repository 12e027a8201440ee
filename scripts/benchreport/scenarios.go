package main

// scenarios lists every benchmark scenario of the project with its target.
// A scenario whose benchmark did not run shows as MISSING and fails the run.
func scenarios() []scenario {
	return []scenario{
		{Name: "Sandbox batch/get_by_user", Bench: "BenchmarkBatchGetByUser", Ours: "contacts/s",
			Target: "≥ 5,000 contacts/s", Pass: atLeast("contacts/s", 5000)},
	}
}
