package services

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// Sign-in lockout: after maxFailedSignIns consecutive failures the account is
// locked for lockDuration, which makes online guessing impractical.
const (
	maxFailedSignIns = 5
	lockDuration     = 15 * time.Minute
	minPasswordLen   = 12
)

// Roles, from most to least privileged.
const (
	RoleAdmin   = "admin"   // everything
	RoleManager = "manager" // their departments' customers, no settings
	RoleStaff   = "staff"   // the customers they follow; no admin pages
)

// AdminAccount is a local account used for first setup and emergencies.
type AdminAccount struct {
	ID          int64      `db:"id"`
	Name        string     `db:"name"`
	Role        string     `db:"role"`
	CreatedAt   time.Time  `db:"created_at"`
	LastLoginAt *time.Time `db:"last_login_at"`
	hash        string
	failed      int
	lockedUntil *time.Time
}

// AdminService manages local accounts and their sign-in.
type AdminService struct {
	db    *sqlx.DB
	audit *AuditService
	now   func() time.Time
	// dummyHash keeps the time of a sign-in for an unknown name equal to
	// that of a wrong password, so names cannot be probed by timing.
	dummyHash string
}

// NewAdminService returns the service.
func NewAdminService(db *sqlx.DB, audit *AuditService) *AdminService {
	h, _ := HashPassword("timing equaliser")
	return &AdminService{db: db, audit: audit, now: time.Now, dummyHash: h}
}

func validateAdminInput(name, password string) error {
	fields := map[string]string{}
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n < 2 || n > 64 || strings.ContainsAny(name, " \t\r\n") {
		fields["name"] = "用户名为 2–64 个字符，不含空格"
	}
	if utf8.RuneCountInString(password) < minPasswordLen {
		fields["password"] = fmt.Sprintf("密码至少 %d 个字符", minPasswordLen)
	}
	if len(fields) > 0 {
		return Invalid("请检查输入", fields)
	}
	return nil
}

// CreateAdmin creates a local account. Returns EINVALID for a bad name,
// password or role, ECONFLICT when the name is taken.
func (s *AdminService) CreateAdmin(ctx context.Context, name, password, role string) (AdminAccount, error) {
	if err := validateAdminInput(name, password); err != nil {
		return AdminAccount{}, err
	}
	if role != RoleAdmin && role != RoleManager {
		return AdminAccount{}, Invalid("请检查输入", map[string]string{"role": "角色只能是 admin 或 manager"})
	}
	hash, err := HashPassword(password)
	if err != nil {
		return AdminAccount{}, err
	}
	var a AdminAccount
	err = s.db.GetContext(ctx, &a, `
		INSERT INTO admin_accounts (name, password_hash, role) VALUES ($1, $2, $3)
		RETURNING id, name, role, created_at, last_login_at`, strings.TrimSpace(name), hash, role)
	if isUniqueViolation(err) {
		return AdminAccount{}, Errorf(ECONFLICT, "用户名 %s 已存在", name)
	}
	if err != nil {
		return AdminAccount{}, fmt.Errorf("admins: create: %w", err)
	}
	return a, s.audit.Record(ctx, AuditEntry{ActorKind: "system", ActorID: "cli", Action: "admin_created",
		TargetKind: "admin_account", TargetID: fmt.Sprint(a.ID)})
}

// ResetPassword sets a new password and lifts any lock. Returns ENOTFOUND.
func (s *AdminService) ResetPassword(ctx context.Context, name, password string) error {
	if err := validateAdminInput(name, password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	var id int64
	err = s.db.GetContext(ctx, &id, `
		UPDATE admin_accounts SET password_hash = $2, failed_attempts = 0, locked_until = NULL, password_changed_at = now()
		WHERE lower(name) = lower($1) RETURNING id`, name, hash)
	if err != nil {
		return notFound(err, "账号")
	}
	return s.audit.Record(ctx, AuditEntry{ActorKind: "system", ActorID: "cli", Action: "admin_password_reset",
		TargetKind: "admin_account", TargetID: fmt.Sprint(id)})
}

// FindAdminByID returns the account. Returns ENOTFOUND.
func (s *AdminService) FindAdminByID(ctx context.Context, id int64) (AdminAccount, error) {
	var a AdminAccount
	err := s.db.GetContext(ctx, &a, `SELECT id, name, role, created_at, last_login_at FROM admin_accounts WHERE id = $1`, id)
	return a, notFound(err, "账号")
}

// ListAdmins returns every local account by name.
func (s *AdminService) ListAdmins(ctx context.Context) ([]AdminAccount, error) {
	var out []AdminAccount
	err := s.db.SelectContext(ctx, &out, `SELECT id, name, role, created_at, last_login_at FROM admin_accounts ORDER BY lower(name)`)
	return out, err
}
