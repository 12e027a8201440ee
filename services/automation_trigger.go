package services

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ruleTx runs a change of rule id (0: a new one) that leaves it enabled or
// not, after switching the automation trigger on moments to match: on while
// some rule is enabled, off otherwise, so that with no rule the hot paths
// that record moments (form submissions, identity links, callbacks, sync)
// pay nothing.
//
// The rules table is locked first (SHARE ROW EXCLUSIVE conflicts with
// itself, not with reads or the executions' foreign key checks): rule
// changes run one at a time and each decides from the committed state, so
// two admins enabling and disabling at once cannot leave the trigger off
// under an enabled rule. The switch comes before the rule's row is touched:
// its ALTER TABLE waits for in-flight inserts into moments, and one of those
// may need the rule's row (foreign key), which must not be locked by then.
// The ALTER runs only when the switch really flips, and holds new moments
// for its few milliseconds.
func (s *AutomationService) ruleTx(ctx context.Context, id int64, enabledAfter bool, fn func(tx *sqlx.Tx) error) error {
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE automation_rules IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("automation: lock rules: %w", err)
		}
		if err := switchTrigger(ctx, tx, id, enabledAfter); err != nil {
			return err
		}
		return fn(tx)
	})
}

func switchTrigger(ctx context.Context, tx *sqlx.Tx, id int64, enabledAfter bool) error {
	var st struct {
		Want bool `db:"want"`
		On   bool `db:"on"`
	}
	err := tx.GetContext(ctx, &st, `SELECT $2 OR EXISTS (SELECT 1 FROM automation_rules WHERE enabled AND id <> $1) AS want,
  (SELECT tgenabled <> 'D' FROM pg_trigger WHERE tgrelid = 'moments'::regclass AND tgname = 'automation_enqueue') AS on`,
		id, enabledAfter)
	if err != nil || st.Want == st.On {
		return wrapErr("automation: trigger state", err)
	}
	q := `ALTER TABLE moments DISABLE TRIGGER automation_enqueue`
	if st.Want {
		q = `ALTER TABLE moments ENABLE TRIGGER automation_enqueue`
	}
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("automation: switch trigger: %w", err)
	}
	return nil
}
