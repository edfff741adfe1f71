//===- Diagnostics.h - printing diagnostics safely ------------------*- C++ -*-===//
//
// Tools and the compile API print MLIR diagnostics as "file:line:col: error:
// message" with the quoted source line. Inputs can be garbage or binary (a
// .json that is an ELF file), so the printed text escapes every byte that is
// neither printable ASCII, a newline or tab, nor part of valid UTF-8: a
// terminal never receives raw control bytes from an input.
//
//===----------------------------------------------------------------------===//

#ifndef UBE_DIAGNOSTICS_H
#define UBE_DIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

namespace ube {

/// Writes to `out` with non-printable bytes escaped as \xNN.
class EscapingOstream : public llvm::raw_ostream {
public:
  explicit EscapingOstream(llvm::raw_ostream &out) : out(out) { SetUnbuffered(); }
  ~EscapingOstream() override { flush(); }

private:
  void write_impl(const char *data, size_t size) override;
  uint64_t current_pos() const override { return position; }

  llvm::raw_ostream &out;
  uint64_t position = 0;
};

/// Prints the diagnostics of `context` to `out` (escaped) while it lives.
class DiagnosticPrinter {
public:
  explicit DiagnosticPrinter(mlir::MLIRContext *context, llvm::raw_ostream &out = llvm::errs())
      : escaped(out), handler(sourceMgr, context, escaped) {}

private:
  EscapingOstream escaped;
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler;
};

} // namespace ube

#endif // UBE_DIAGNOSTICS_H
