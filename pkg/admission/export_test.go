package admission

import "testing"

// HeldBy serves body and returns its status, the most heap the handler
// held at once, and the estimate the budget reserves for it.
func HeldBy(t *testing.T, h *Handler, body []byte) (int, uint64, int64) {
	status, held := heldBy(t, h, body)
	return status, held, costOf(body)
}
