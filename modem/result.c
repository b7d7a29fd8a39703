/*
 * result.c - the one table that turns spandsp completion codes into
 * faxfs results. Codes are stable strings ("t30_..."): the queue stores
 * them and users script on them, so never rename one.
 */
#include "modem/result.h"

#include <stdio.h>
#include <string.h>

#include <tiffio.h>
#include <spandsp.h>

struct t30_result {
    int t30;
    const char *code;
    enum modem_outcome outcome;
    const char *text;
};

/* Retry classes: not_fax when nothing fax-like answered; dropped for
 * anything a new call may fix; permanent when the same call would fail
 * the same way (the far end cannot take this document, or our file is bad). */
static const struct t30_result t30_results[] = {
    { T30_ERR_OK, "", MODEM_OK, "The fax was sent." },
    { T30_ERR_CEDTONE, "t30_ced_tone", MODEM_DROPPED, "The answer tone lasted too long." },
    { T30_ERR_T0_EXPIRED, "not_fax", MODEM_NOT_FAX, "The call was answered, but not by a fax machine." },
    { T30_ERR_T1_EXPIRED, "t30_t1_expired", MODEM_NOT_FAX, "The remote never started the fax exchange." },
    { T30_ERR_T3_EXPIRED, "t30_t3_expired", MODEM_DROPPED, "Timed out waiting for a procedural interrupt." },
    { T30_ERR_HDLC_CARRIER, "t30_hdlc_carrier", MODEM_DROPPED, "The remote's signal did not stop in time." },
    { T30_ERR_CANNOT_TRAIN, "t30_cannot_train", MODEM_DROPPED, "The modems could not train at any speed; the line may be too noisy." },
    { T30_ERR_OPER_INT_FAIL, "t30_operator_interrupt", MODEM_DROPPED, "Operator intervention failed." },
    { T30_ERR_INCOMPATIBLE, "t30_incompatible", MODEM_PERMANENT, "The remote fax machine is not compatible." },
    { T30_ERR_RX_INCAPABLE, "t30_rx_incapable", MODEM_PERMANENT, "The remote fax machine cannot receive." },
    { T30_ERR_TX_INCAPABLE, "t30_tx_incapable", MODEM_PERMANENT, "The remote fax machine cannot send." },
    { T30_ERR_NORESSUPPORT, "t30_resolution_unsupported", MODEM_PERMANENT, "The remote cannot receive at the resolution of the pages." },
    { T30_ERR_NOSIZESUPPORT, "t30_size_unsupported", MODEM_PERMANENT, "The remote cannot receive pages of this size." },
    { T30_ERR_UNEXPECTED, "t30_unexpected", MODEM_DROPPED, "The remote sent an unexpected message." },
    { T30_ERR_TX_BADDCS, "t30_tx_bad_dcs", MODEM_DROPPED, "Bad response to the setup or training." },
    { T30_ERR_TX_BADPG, "t30_tx_bad_page", MODEM_DROPPED, "The remote disconnected after a page." },
    { T30_ERR_TX_ECMPHD, "t30_tx_ecm_phase_d", MODEM_DROPPED, "Invalid error-correction response from the remote." },
    { T30_ERR_TX_GOTDCN, "t30_tx_got_dcn", MODEM_DROPPED, "The remote disconnected before the exchange started." },
    { T30_ERR_TX_INVALRSP, "t30_tx_invalid_response", MODEM_DROPPED, "Invalid response after sending a page." },
    { T30_ERR_TX_NODIS, "t30_tx_no_dis", MODEM_DROPPED, "The remote did not announce its capabilities." },
    { T30_ERR_TX_PHBDEAD, "t30_tx_phase_b_dead", MODEM_DROPPED, "No response to setup or training." },
    { T30_ERR_TX_PHDDEAD, "t30_tx_phase_d_dead", MODEM_DROPPED, "No response after sending a page." },
    { T30_ERR_TX_T5EXP, "t30_tx_t5_expired", MODEM_DROPPED, "Timed out waiting for the remote to become ready." },
    { T30_ERR_RX_ECMPHD, "t30_rx_ecm_phase_d", MODEM_DROPPED, "Invalid error-correction response from the sender." },
    { T30_ERR_RX_GOTDCS, "t30_rx_got_dcs", MODEM_DROPPED, "Setup received while waiting for a poll." },
    { T30_ERR_RX_INVALCMD, "t30_rx_invalid_command", MODEM_DROPPED, "Unexpected command after a page." },
    { T30_ERR_RX_NOCARRIER, "t30_rx_no_carrier", MODEM_DROPPED, "The signal was lost during reception." },
    { T30_ERR_RX_NOEOL, "t30_rx_no_eol", MODEM_DROPPED, "Timed out waiting for the end of a line." },
    { T30_ERR_RX_NOFAX, "t30_rx_no_fax", MODEM_DROPPED, "Timed out waiting for the first line of a page." },
    { T30_ERR_RX_T2EXPDCN, "t30_rx_t2_dcn", MODEM_DROPPED, "Timed out waiting for the disconnect." },
    { T30_ERR_RX_T2EXPD, "t30_rx_t2_phase_d", MODEM_DROPPED, "Timed out waiting for the end of a page." },
    { T30_ERR_RX_T2EXPFAX, "t30_rx_t2_fax", MODEM_DROPPED, "Timed out waiting for a page." },
    { T30_ERR_RX_T2EXPMPS, "t30_rx_t2_next_page", MODEM_DROPPED, "Timed out waiting for the next page." },
    { T30_ERR_RX_T2EXPRR, "t30_rx_t2_rr", MODEM_DROPPED, "Timed out waiting for a receive-ready command." },
    { T30_ERR_RX_T2EXP, "t30_rx_t2", MODEM_DROPPED, "Timed out waiting for a command." },
    { T30_ERR_RX_DCNWHY, "t30_rx_dcn_setup", MODEM_DROPPED, "Unexpected disconnect during setup." },
    { T30_ERR_RX_DCNDATA, "t30_rx_dcn_data", MODEM_DROPPED, "Unexpected disconnect while waiting for page data." },
    { T30_ERR_RX_DCNFAX, "t30_rx_dcn_page_end", MODEM_DROPPED, "Unexpected disconnect at the end of a page." },
    { T30_ERR_RX_DCNPHD, "t30_rx_dcn_phase_d", MODEM_DROPPED, "Unexpected disconnect after a page." },
    { T30_ERR_RX_DCNRRD, "t30_rx_dcn_rr", MODEM_DROPPED, "Unexpected disconnect after a receive-ready exchange." },
    { T30_ERR_RX_DCNNORTN, "t30_rx_dcn_retrain", MODEM_DROPPED, "Unexpected disconnect after a retrain request." },
    { T30_ERR_FILEERROR, "t30_file_error", MODEM_PERMANENT, "The page file cannot be opened." },
    { T30_ERR_NOPAGE, "t30_no_page", MODEM_PERMANENT, "A page was not found in the page file." },
    { T30_ERR_BADTIFF, "t30_bad_tiff", MODEM_PERMANENT, "A page is not a TIFF fax page (1-bit, fax width)." },
    { T30_ERR_BADPAGE, "t30_bad_page", MODEM_PERMANENT, "A page lacks its page number." },
    { T30_ERR_BADTAG, "t30_bad_tag", MODEM_PERMANENT, "A page has incorrect TIFF tags." },
    { T30_ERR_BADTIFFHDR, "t30_bad_tiff_header", MODEM_PERMANENT, "A page has a bad TIFF header." },
    { T30_ERR_NOMEM, "t30_no_memory", MODEM_DROPPED, "Out of memory while sending." },
    { T30_ERR_RETRYDCN, "t30_retries_exhausted", MODEM_DROPPED, "Disconnected after the permitted retries." },
    { T30_ERR_CALLDROPPED, "call_dropped", MODEM_DROPPED, "The call dropped." },
    { T30_ERR_NOPOLL, "t30_no_poll", MODEM_PERMANENT, "The remote does not accept polling." },
    { T30_ERR_IDENT_UNACCEPTABLE, "t30_ident_rejected", MODEM_PERMANENT, "The remote's identity is not acceptable." },
    { T30_ERR_SUB_UNACCEPTABLE, "t30_subaddress_rejected", MODEM_PERMANENT, "The remote's sub-address is not acceptable." },
    { T30_ERR_SEP_UNACCEPTABLE, "t30_sep_rejected", MODEM_PERMANENT, "The remote's polling address is not acceptable." },
    { T30_ERR_PSA_UNACCEPTABLE, "t30_psa_rejected", MODEM_PERMANENT, "The remote's polled sub-address is not acceptable." },
    { T30_ERR_SID_UNACCEPTABLE, "t30_sid_rejected", MODEM_PERMANENT, "The remote's sender identification is not acceptable." },
    { T30_ERR_PWD_UNACCEPTABLE, "t30_password_rejected", MODEM_PERMANENT, "The remote's password is not acceptable." },
    { T30_ERR_TSA_UNACCEPTABLE, "t30_tsa_rejected", MODEM_PERMANENT, "The remote's internet address is not acceptable." },
    { T30_ERR_IRA_UNACCEPTABLE, "t30_ira_rejected", MODEM_PERMANENT, "The remote's routing address is not acceptable." },
    { T30_ERR_CIA_UNACCEPTABLE, "t30_cia_rejected", MODEM_PERMANENT, "The remote's calling address is not acceptable." },
    { T30_ERR_ISP_UNACCEPTABLE, "t30_isp_rejected", MODEM_PERMANENT, "The remote's polling address is not acceptable." },
    { T30_ERR_CSA_UNACCEPTABLE, "t30_csa_rejected", MODEM_PERMANENT, "The remote's called address is not acceptable." },
};

struct line_result {
    enum line_state state;
    const char *code;
    enum modem_outcome outcome;
    const char *text;
};

static const struct line_result line_results[] = {
    { LINE_BUSY, "busy", MODEM_BUSY, "The number is busy." },
    { LINE_NO_ANSWER, "no_answer", MODEM_NO_ANSWER, "Nobody answered." },
    { LINE_NO_LINE, "no_line", MODEM_NO_LINE, "No dial tone: the line is unavailable." },
    { LINE_FAILED, "line_failed", MODEM_DROPPED, "The call could not be placed." },
    { LINE_HUNG_UP, "call_dropped", MODEM_DROPPED, "The remote hung up." },
    { LINE_DIALING, "line_failed", MODEM_DROPPED, "The call ended while dialing." },
    { LINE_ANSWERED, "line_failed", MODEM_DROPPED, "The call ended unexpectedly." },
};

void result_set(struct modem_result *res, enum modem_outcome o, const char *code, const char *text)
{
    res->outcome = o;
    snprintf(res->code, sizeof res->code, "%s", code);
    snprintf(res->text, sizeof res->text, "%s", text);
}

void result_from_t30(struct modem_result *res, int t30_code)
{
    for (size_t i = 0; i < sizeof t30_results / sizeof t30_results[0]; i++) {
        const struct t30_result *r = &t30_results[i];
        if (r->t30 == t30_code) {
            result_set(res, r->outcome, r->code, r->text);
            return;
        }
    }
    /* A code newer than this table: keep the call retryable and say which. */
    char code[32], text[160];
    snprintf(code, sizeof code, "t30_error_%d", t30_code);
    snprintf(text, sizeof text, "T.30 error %d: %s.", t30_code, t30_completion_code_to_str(t30_code));
    result_set(res, MODEM_DROPPED, code, text);
}

void result_from_line(struct modem_result *res, enum line_state st)
{
    for (size_t i = 0; i < sizeof line_results / sizeof line_results[0]; i++)
        if (line_results[i].state == st) {
            result_set(res, line_results[i].outcome, line_results[i].code, line_results[i].text);
            return;
        }
    result_set(res, MODEM_DROPPED, "line_failed", "The call failed.");
}

const char *modem_outcome_name(enum modem_outcome o)
{
    static const char *const names[] = {
        [MODEM_OK] = "ok", [MODEM_BUSY] = "busy", [MODEM_NO_ANSWER] = "no_answer",
        [MODEM_NO_LINE] = "no_line", [MODEM_NOT_FAX] = "not_fax", [MODEM_DROPPED] = "dropped",
        [MODEM_PERMANENT] = "permanent", [MODEM_ABORTED] = "aborted",
    };
    if ((unsigned)o < sizeof names / sizeof names[0] && names[o])
        return names[o];
    return "unknown";
}
