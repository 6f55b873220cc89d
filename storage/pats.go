package storage

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

type patRow struct {
	ID            string       `db:"id"`
	OrgID         string       `db:"org_id"`
	UserID        string       `db:"user_id"`
	Name          string       `db:"name"`
	Scopes        string       `db:"scopes"`
	Hash          []byte       `db:"token_hash"`
	Hint          string       `db:"hint"`
	CreatedAt     time.Time    `db:"created_at"`
	ExpiresAt     sql.NullTime `db:"expires_at"`
	LastUsedAt    sql.NullTime `db:"last_used_at"`
	LastUsedAddr  string       `db:"last_used_addr"`
	LastUsedBy    string       `db:"last_used_client"`
	RevokedAt     sql.NullTime `db:"revoked_at"`
	RevokedReason string       `db:"revoked_reason"`
	Delegates     string       `db:"delegates"`
	// Rotation and networks.
	OverlapUntil   sql.NullTime `db:"overlap_until"`
	ReplacedBy     string       `db:"replaced_by"`
	AllowedCIDRs   string       `db:"allowed_cidrs"`
	RecentNetworks string       `db:"recent_networks"`
}

func (r *patRow) model() PAT {
	return PAT{
		ID: r.ID, OrgID: r.OrgID, UserID: r.UserID, Name: r.Name, Scopes: splitList(r.Scopes),
		Hash: r.Hash, Hint: r.Hint, CreatedAt: utc(r.CreatedAt), ExpiresAt: utcp(r.ExpiresAt),
		LastUsedAt: utcp(r.LastUsedAt), LastUsedAddr: r.LastUsedAddr, LastUsedClient: r.LastUsedBy,
		RevokedAt: utcp(r.RevokedAt), RevokedReason: r.RevokedReason, Delegates: splitList(r.Delegates),
		OverlapUntil: utcp(r.OverlapUntil), ReplacedBy: r.ReplacedBy, AllowedCIDRs: splitList(r.AllowedCIDRs),
		RecentNetworks: splitList(r.RecentNetworks),
	}
}

const patCols = `id, org_id, user_id, name, scopes, token_hash, hint, created_at, expires_at, last_used_at, revoked_at, revoked_reason, delegates` +
	patRotationCols

// patRotationCols are the columns of rotation and networks (migration
// 00009), written by CreatePAT with the others.
const patRotationCols = `, overlap_until, replaced_by, allowed_cidrs, recent_networks`

// patReadCols are patCols and the last use's address and client, which
// CreatePAT leaves to their defaults.
const patReadCols = patCols + `, last_used_addr, last_used_client`

// CreatePAT inserts p, filling in ID and creation time when empty. The owner
// must belong to p.OrgID.
func (s *SQLStore) CreatePAT(ctx context.Context, p *PAT) error {
	if p.ID == "" {
		p.ID = newID()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.stamp()
	}
	res, err := s.exec(ctx, "create pat",
		`INSERT INTO pats (`+patCols+`)
		 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
		        ?, ?, ?, ?
		 WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND org_id = ?)`,
		p.ID, p.OrgID, p.UserID, p.Name, joinList(p.Scopes), p.Hash, p.Hint, s.t(p.CreatedAt),
		s.tp(p.ExpiresAt), s.tp(p.LastUsedAt), s.tp(p.RevokedAt), p.RevokedReason, joinList(p.Delegates),
		s.tp(p.OverlapUntil), p.ReplacedBy, joinList(p.AllowedCIDRs), joinList(p.RecentNetworks),
		p.UserID, p.OrgID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapf("create pat", mapErr(err))
	} else if n == 0 {
		return wrapf("create pat", ErrInvalidReference)
	}
	return nil
}

// GetPAT reads a PAT of an organization by id.
func (s *SQLStore) GetPAT(ctx context.Context, orgID, id string) (*PAT, error) {
	var r patRow
	if err := s.get(ctx, "get pat", &r, `SELECT `+patReadCols+` FROM pats WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
		return nil, err
	}
	p := r.model()
	return &p, nil
}

// GetPATByHash reads a PAT by the SHA-256 of its token.
func (s *SQLStore) GetPATByHash(ctx context.Context, hash []byte) (*PAT, error) {
	var r patRow
	if err := s.get(ctx, "get pat", &r, `SELECT `+patReadCols+` FROM pats WHERE token_hash = ?`, hash); err != nil {
		return nil, err
	}
	p := r.model()
	return &p, nil
}

// grantSelect reads a PAT with what deciding an exchange needs of its
// owner and organization, and the owner's role assignments aggregated into
// one column ("folder<TAB>permissions" lines: folder paths hold no control
// characters, permission lists no tabs), so that the answer is one row over
// the unique index on token_hash. {agg} is the dialect's string
// aggregation.
const grantSelect = `SELECT p.id, p.org_id, p.user_id, p.name, p.scopes, p.token_hash, p.created_at,
	p.expires_at, p.revoked_at, p.delegates,
	u.username, u.kind, u.status, u.admin,
	o.name, o.pats_enabled, o.pat_max_lifetime,
	(SELECT {agg} FROM role_assignments ra JOIN roles r ON r.id = ra.role_id WHERE ra.user_id = p.user_id) AS grants,
	p.revoked_reason, p.overlap_until, p.replaced_by, p.allowed_cidrs, p.recent_networks,
	p.last_used_at, p.last_used_addr, p.last_used_client
FROM pats p
JOIN users u ON u.id = p.user_id
JOIN organizations o ON o.id = p.org_id
WHERE `

// grantQuery is grantSelect for a dialect with a WHERE clause.
func grantQuery(driver, where string) string {
	agg := `group_concat(ra.folder || char(9) || r.permissions, char(10))`
	if driver == DriverPostgres {
		agg = `string_agg(ra.folder || chr(9) || r.permissions, chr(10))`
	}
	return strings.Replace(grantSelect, "{agg}", agg, 1) + where
}

// The grant queries of each dialect, built once; batches are built per
// size (batchGrantQuery, patbatch.go).
var grantQueries = map[string]struct{ byHash, byID string }{
	DriverSQLite:   {grantQuery(DriverSQLite, `p.token_hash = ?`), grantQuery(DriverSQLite, `p.id = ?`)},
	DriverPostgres: {grantQuery(DriverPostgres, `p.token_hash = ?`), grantQuery(DriverPostgres, `p.id = ?`)},
}

// GetPATGrant reads everything an exchange needs in one round trip. Of the
// PAT it fills every field but Hint (its Delegates included, which a
// chained exchange checks; the rotation and network fields: an overlap,
// the allowed and recent networks; and the last use, which decides whether
// this use needs writing); of the
// owner and the organization, everything but timestamps and the password
// hash.
//
// Outside a transaction, on a store that batches (PostgreSQL by default),
// concurrent calls share queries (patbatch.go); the answer is the same.
func (s *SQLStore) GetPATGrant(ctx context.Context, hash []byte) (*PATGrant, error) {
	if s.batch != nil && !s.inTx {
		return s.batch.get(ctx, hash)
	}
	return s.patGrant(ctx, grantQueries[s.driver].byHash, hash)
}

// GetPATGrantByID is GetPATGrant by PAT id, for tokens that name their PAT
// (an issued JWT's pat_id).
func (s *SQLStore) GetPATGrantByID(ctx context.Context, id string) (*PATGrant, error) {
	return s.patGrant(ctx, grantQueries[s.driver].byID, id)
}

func (s *SQLStore) patGrant(ctx context.Context, query string, arg any) (*PATGrant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	stmt, err := s.q.prepared(ctx, query)
	if err != nil {
		return nil, wrapf("get pat grant", mapErr(err))
	}
	if tx, ok := s.x.(*sqlx.Tx); ok {
		stmt = tx.StmtContext(ctx, stmt)
	}
	g, err := scanGrant(stmt.QueryRowContext(ctx, arg))
	if err != nil {
		return nil, wrapf("get pat grant", mapErr(err))
	}
	return g, nil
}

// ListPATs lists PATs newest first (by id, which is UUIDv7).
func (s *SQLStore) ListPATs(ctx context.Context, f PATFilter) ([]PAT, error) {
	q := `SELECT ` + patReadCols + ` FROM pats WHERE 1 = 1`
	var args []any
	if f.OrgID != "" {
		q += ` AND org_id = ?`
		args = append(args, f.OrgID)
	}
	if f.UserID != "" {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if f.Name != "" {
		q += ` AND lower(name) LIKE lower(?) ESCAPE '\'`
		args = append(args, "%"+escapeLike(f.Name)+"%")
	}
	if len(f.AnyScope) > 0 {
		// Scope lists are space-separated: a scope is held when the list,
		// padded with spaces, holds it padded with spaces.
		q += ` AND (`
		for i, sc := range f.AnyScope {
			if i > 0 {
				q += ` OR `
			}
			q += `(' ' || scopes || ' ') LIKE ? ESCAPE '\'`
			args = append(args, "% "+escapeLike(sc)+" %")
		}
		q += `)`
	}
	now := s.t(f.Now)
	var cutoff any
	if f.MaxLifetime > 0 {
		cutoff = s.t(f.Now.Add(-f.MaxLifetime))
	}
	active := func() {
		q += ` AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`
		args = append(args, now)
		if cutoff != nil {
			q += ` AND created_at > ?`
			args = append(args, cutoff)
		}
	}
	switch f.Status {
	case "":
	case PATRevoked:
		q += ` AND revoked_at IS NOT NULL`
	case PATExpired:
		q += ` AND revoked_at IS NULL AND ((expires_at IS NOT NULL AND expires_at <= ?)`
		args = append(args, now)
		if cutoff != nil {
			q += ` OR created_at <= ?`
			args = append(args, cutoff)
		}
		q += `)`
	case PATActive:
		active()
	default:
		return nil, fmt.Errorf("list pats: unknown status %q", f.Status)
	}
	if !f.ExpiringBefore.IsZero() {
		// Active now, and its end — the earlier of expires_at and
		// created_at + the maximum lifetime — at or before the bound.
		active()
		q += ` AND ((expires_at IS NOT NULL AND expires_at <= ?)`
		args = append(args, s.t(f.ExpiringBefore))
		if f.MaxLifetime > 0 {
			q += ` OR created_at <= ?`
			args = append(args, s.t(f.ExpiringBefore.Add(-f.MaxLifetime)))
		}
		q += `)`
	}
	if f.After != "" {
		q += ` AND id < ?`
		args = append(args, f.After)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var rows []patRow
	if err := s.sel(ctx, "list pats", &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]PAT, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// escapeLike escapes the LIKE wildcards of v (and the escape character
// itself), so that v matches only itself (likeEscaper).
func escapeLike(v string) string {
	return likeEscaper.Replace(v)
}

// RevokePAT revokes one PAT of an organization. A PAT that is already
// revoked keeps its first revocation time and reason.
func (s *SQLStore) RevokePAT(ctx context.Context, orgID, id string, at time.Time, reason string) (*PAT, error) {
	if _, err := s.exec(ctx, "revoke pat",
		`UPDATE pats SET revoked_at = ?, revoked_reason = ? WHERE org_id = ? AND id = ? AND revoked_at IS NULL`,
		s.t(at), reason, orgID, id); err != nil {
		return nil, err
	}
	return s.GetPAT(ctx, orgID, id)
}

// RevokePATs revokes many PATs of one organization in one transaction. A PAT
// that was already revoked is reported as revoked (it is); ids that are not
// PATs of the organization are reported as not found.
func (s *SQLStore) RevokePATs(ctx context.Context, orgID string, ids []string, at time.Time, reason string) (*RevokeResult, error) {
	res := &RevokeResult{Revoked: []string{}, NotFound: []string{}}
	seen := make(map[string]bool, len(ids))
	err := s.WithTx(ctx, func(tx Store) error {
		ts := tx.(*SQLStore)
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			if _, err := ts.RevokePAT(ctx, orgID, id, at, reason); err != nil {
				if isNotFound(err) {
					res.NotFound = append(res.NotFound, id)
					continue
				}
				return err
			}
			res.Revoked = append(res.Revoked, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// touchBatch bounds how many rows one TouchPATs statement or transaction
// updates.
const touchBatch = 500

// TouchPATs moves each PAT's last_used_at forward to the given time. The
// condition in the UPDATE makes concurrent writers safe: the latest time
// wins whatever order the writes land in. On PostgreSQL each batch is one
// statement over arrays (one round trip for 500 PATs); on SQLite, where a
// statement costs no round trip, one prepared UPDATE per PAT in one
// transaction.
func (s *SQLStore) TouchPATs(ctx context.Context, used map[string]PATUse) error {
	ids := make([]string, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	// A fixed order keeps concurrent batches from deadlocking on PostgreSQL.
	sort.Strings(ids)
	for len(ids) > 0 {
		n := min(len(ids), touchBatch)
		chunk := ids[:n]
		ids = ids[n:]
		var err error
		if s.driver == DriverPostgres {
			err = s.touchPostgres(ctx, chunk, used)
		} else {
			err = s.touchEach(ctx, chunk, used)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLStore) touchPostgres(ctx context.Context, ids []string, used map[string]PATUse) error {
	times := make([]time.Time, len(ids))
	addrs := make([]string, len(ids))
	clients := make([]string, len(ids))
	for i, id := range ids {
		u := used[id]
		times[i] = u.At.UTC().Truncate(time.Microsecond)
		addrs[i], clients[i] = u.Addr, u.Client
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.x.ExecContext(ctx, `UPDATE pats SET last_used_at = v.t,
		  last_used_addr = CASE WHEN v.a = '' AND v.c = '' THEN pats.last_used_addr ELSE v.a END,
		  last_used_client = CASE WHEN v.a = '' AND v.c = '' THEN pats.last_used_client ELSE v.c END
		FROM (SELECT unnest($1::text[]) AS id, unnest($2::timestamptz[]) AS t,
		             unnest($3::text[]) AS a, unnest($4::text[]) AS c) AS v
		WHERE pats.id = v.id AND (pats.last_used_at IS NULL OR pats.last_used_at < v.t)`,
		pq.Array(ids), pq.Array(times), pq.Array(addrs), pq.Array(clients))
	if err != nil {
		return wrapf("touch pats", s.writeFailed(mapErr(err)))
	}
	s.wrote()
	return nil
}

func (s *SQLStore) touchEach(ctx context.Context, ids []string, used map[string]PATUse) error {
	return s.WithTx(ctx, func(tx Store) error {
		ts := tx.(*SQLStore)
		ctx, cancel := s.bound(ctx)
		defer cancel()
		stmt, err := ts.x.(*sqlx.Tx).PreparexContext(ctx,
			// Numbered parameters: each value is bound once.
			`UPDATE pats SET last_used_at = ?1,
			   last_used_addr = CASE WHEN ?2 = '' AND ?3 = '' THEN last_used_addr ELSE ?2 END,
			   last_used_client = CASE WHEN ?2 = '' AND ?3 = '' THEN last_used_client ELSE ?3 END
			 WHERE id = ?4 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return wrapf("touch pats", mapErr(err))
		}
		defer stmt.Close()
		for _, id := range ids {
			u := used[id]
			t := ts.t(u.At)
			if _, err := stmt.ExecContext(ctx, t, u.Addr, u.Client, id); err != nil {
				return wrapf("touch pats", mapErr(err))
			}
		}
		return nil
	})
}

// CountPATs counts PATs by status at now, under each organization's maximum
// lifetime.
func (s *SQLStore) CountPATs(ctx context.Context, now time.Time) (PATCounts, error) {
	orgs, err := s.ListOrganizations(ctx)
	if err != nil {
		return nil, err
	}
	counts := PATCounts{PATActive: 0, PATExpired: 0, PATRevoked: 0}
	for _, o := range orgs {
		// Without a maximum lifetime the cutoff is a time no PAT is created
		// at or before, so only expires_at decides.
		cutoff := time.Unix(0, 0)
		if o.PATMaxLifetime > 0 {
			cutoff = now.Add(-o.PATMaxLifetime)
		}
		var rows []struct {
			Status string `db:"status"`
			N      int64  `db:"n"`
		}
		if err := s.sel(ctx, "count pats", &rows,
			`SELECT CASE
			   WHEN revoked_at IS NOT NULL THEN 'revoked'
			   WHEN expires_at IS NOT NULL AND expires_at <= ? THEN 'expired'
			   WHEN created_at <= ? THEN 'expired'
			   ELSE 'active' END AS status, COUNT(*) AS n
			 FROM pats WHERE org_id = ? GROUP BY 1`,
			s.t(now), s.t(cutoff), o.ID); err != nil {
			return nil, err
		}
		for _, r := range rows {
			counts[PATStatus(r.Status)] += r.N
		}
	}
	return counts, nil
}

// SetPATSuccessor records, on a PAT just revoked by regeneration, the PAT
// that replaced it and when its secret stops working (nil: at once).
func (s *SQLStore) SetPATSuccessor(ctx context.Context, orgID, id, successor string, overlapUntil *time.Time) error {
	res, err := s.exec(ctx, "set pat successor",
		`UPDATE pats SET replaced_by = ?, overlap_until = ? WHERE org_id = ? AND id = ?`,
		successor, s.tp(overlapUntil), orgID, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapf("set pat successor", mapErr(err))
	} else if n == 0 {
		return wrapf("set pat successor", ErrNotFound)
	}
	return nil
}

// EndPATOverlap ends the overlap of a regenerated PAT at the given time,
// if it runs beyond it, and reports whether it did.
func (s *SQLStore) EndPATOverlap(ctx context.Context, orgID, id string, at time.Time) (bool, error) {
	res, err := s.exec(ctx, "end pat overlap",
		`UPDATE pats SET overlap_until = ? WHERE org_id = ? AND id = ? AND overlap_until > ?`,
		s.t(at), orgID, id, s.t(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapf("end pat overlap", mapErr(err))
	}
	return n > 0, nil
}

// SetPATRecentNetworks replaces a PAT's recent networks with next if they
// are still old (compare and set), and reports whether it did: two
// replicas that saw the same list change it once.
func (s *SQLStore) SetPATRecentNetworks(ctx context.Context, orgID, id string, old, next []string) (bool, error) {
	res, err := s.exec(ctx, "set pat networks",
		`UPDATE pats SET recent_networks = ? WHERE org_id = ? AND id = ? AND recent_networks = ?`,
		joinList(next), orgID, id, joinList(old))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapf("set pat networks", mapErr(err))
	}
	return n > 0, nil
}
