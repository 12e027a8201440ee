package services

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// A task for a segment goes to the employees following its customers only.
func TestTaskForSegmentReachesItsFollowers(t *testing.T) {
	e := newMassEnv(t)
	ctx := context.Background()
	e.addCustomers(t, "emp001", 2) // emp002 follows nobody
	audit := NewAuditService(e.db)
	tasks := NewTaskService(e.db, audit, NewFormService(e.db, audit, "https://app.example.com"), fixedWeChat{e.t.Client},
		"https://app.example.com").WithSegments(NewSegmentService(e.db, audit))
	in := TaskInput{Title: "推给人群", FormID: e.form, Deadline: time.Now().Add(time.Hour), TargetKind: TargetSegment,
		TargetIDs: []string{strconv.FormatInt(e.segment, 10)}}
	task, err := tasks.CreateTask(ctx, e.admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if task, err = tasks.PublishTask(ctx, e.admin, task.ID); err != nil || task.Targets != 1 {
		t.Fatalf("publish: %+v %v", task, err)
	}
	var who string
	e.db.Get(&who, `SELECT userid FROM promotion_task_targets WHERE task_id = $1`, task.ID)
	if who != "emp001" {
		t.Fatalf("task went to %q", who)
	}
	in.TargetIDs = nil
	if _, err := tasks.CreateTask(ctx, e.admin, in); ErrorFields(err)["targets"] == "" {
		t.Fatalf("no segment: %v", err)
	}
}
