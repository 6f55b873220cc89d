package storage

import "context"

// Hooks into the PAT read batcher for the tests of package storage_test.

// SetPATGrantHooks sets the batcher's test hooks (patbatch.go); nil
// leaves one unset.
func SetPATGrantHooks(s *SQLStore, afterQuery func(), query func(ctx context.Context, hashes [][]byte) (map[string]*PATGrant, error)) {
	s.batch.afterQuery, s.batch.query = afterQuery, query
}

// PendingPATGrantReads is how many reads wait for the next batch.
func PendingPATGrantReads(s *SQLStore) int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.pending)
}

// PATGrantBatchQuery is the batch query of the store, unhooked.
func PATGrantBatchQuery(s *SQLStore) func(ctx context.Context, hashes [][]byte) (map[string]*PATGrant, error) {
	return s.patGrants
}

// PATGrantBatchSQL is PostgreSQL's batch query, as prepared.
func PATGrantBatchSQL(s *SQLStore, n int) string { return s.q.rebind(batchGrantQuery(s.driver, n)) }

// HygieneQueries are the hygiene scans' queries for f and i, rebound for
// the store's driver, with their arguments.
func HygieneQueries(s *SQLStore, f EndingFilter, i IdleFilter) (ending string, endingArgs []any, idle string, idleArgs []any) {
	ending, endingArgs = s.endingQuery(f)
	idle, idleArgs = s.idleQuery(i)
	return s.q.rebind(ending), endingArgs, s.q.rebind(idle), idleArgs
}
