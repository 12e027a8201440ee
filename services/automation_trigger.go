package services

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ruleTx runs a change of the rules and then switches the automation
// trigger on moments to match: on while some rule is enabled, off
// otherwise, so that with no rule the hot paths that record moments (form
// submissions, identity links, callbacks, sync) pay nothing.
//
// The rules table is locked first (SHARE ROW EXCLUSIVE conflicts with
// itself, not with reads): rule changes run one at a time, and each decides
// from the committed state, so two admins enabling and disabling at once
// cannot leave the trigger off under an enabled rule. The ALTER TABLE waits
// for in-flight inserts into moments and holds new ones for its few
// milliseconds; it only runs when the switch really flips.
func (s *AutomationService) ruleTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE automation_rules IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("automation: lock rules: %w", err)
		}
		if err := fn(tx); err != nil {
			return err
		}
		return switchTrigger(ctx, tx)
	})
}

func switchTrigger(ctx context.Context, tx *sqlx.Tx) error {
	var st struct {
		Want bool `db:"want"`
		On   bool `db:"on"`
	}
	err := tx.GetContext(ctx, &st, `SELECT EXISTS (SELECT 1 FROM automation_rules WHERE enabled) AS want,
  (SELECT tgenabled <> 'D' FROM pg_trigger WHERE tgrelid = 'moments'::regclass AND tgname = 'automation_enqueue') AS on`)
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
