package admission

// ApplyPatch lets the tests of package admission_test apply patches.
var ApplyPatch = applyPatch
