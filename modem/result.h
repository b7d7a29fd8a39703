/*
 * result.h - how a call ended, in words: every spandsp T.30 completion
 * code and every line outcome mapped to a stable code, a sentence and a
 * retry class (enum modem_outcome).
 */
#ifndef FAXFS_MODEM_RESULT_H
#define FAXFS_MODEM_RESULT_H

#include "modem/line.h"
#include "modem/modem.h"

/* Fills outcome, code and text from a T.30 completion code (T30_ERR_*). */
void result_from_t30(struct modem_result *res, int t30_code);
/* Fills outcome, code and text for a call that never reached T.30. */
void result_from_line(struct modem_result *res, enum line_state st);
/* Fills a result by hand (aborts, file errors). */
void result_set(struct modem_result *res, enum modem_outcome o, const char *code, const char *text);

#endif
