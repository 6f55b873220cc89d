package outbox

import (
	"errors"
	"fmt"
	"testing"
)

func TestPermanent(t *testing.T) {
	base := errors.New("refused")
	if IsPermanent(base) || IsPermanent(nil) || Permanent(nil) != nil {
		t.Fatal("an unmarked error is permanent")
	}
	err := fmt.Errorf("deliver: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) || err.Error() != "deliver: refused" {
		t.Fatalf("marked error: %v", err)
	}
}
