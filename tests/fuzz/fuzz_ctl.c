/*
 * fuzz_ctl.c - what users write into the view: ctl commands (job, server,
 * draft), draft fields and outbox names (fs/parse.c). First byte picks the
 * parser, the rest is the input. Checks: no crash; a refused draft field
 * leaves the request as it was; what a field accepts renders back and
 * parses again to the same request; an outbox name escaped for a log line
 * holds no control character.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t pick = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    char word[64], why[256], number[JOB_NUMBER_MAX];
    switch (pick % 5) {
    case 0: {
        enum queue_op op;
        if (fs_parse_job_ctl(buf, len, &op) == 0 && (op < QOP_PAUSE || op > QOP_CANCEL))
            abort();
        break;
    }
    case 1: {
        enum fs_server_cmd cmd;
        fs_parse_server_ctl(buf, len, &cmd);
        fs_parse_command(buf, len, word, sizeof word);
        break;
    }
    case 2:
        fs_parse_draft_ctl(buf, len);
        break;
    case 3: {
        int fields = fs_draft_field_count();
        int node = 1 + (int)(pick / 5) % (fields > 0 ? fields : 1);
        struct queue_request req, before;
        memset(&req, 0, sizeof req);
        before = req;
        if (fs_draft_set(&req, node, buf, len, 1800000000, why, sizeof why) != 0) {
            if (memcmp(&req, &before, sizeof req) != 0)
                abort(); /* a refusal must change nothing */
            break;
        }
        char shown[2048];
        int n = fs_draft_render(&req, node, shown, sizeof shown);
        if (n > 0) {
            struct queue_request again;
            memset(&again, 0, sizeof again);
            if (fs_draft_set(&again, node, shown, (size_t)n, 1800000000, why, sizeof why) != 0)
                abort(); /* what is shown must be accepted back */
        }
        break;
    }
    default: {
        char name[300];
        size_t n = len < sizeof name - 1 ? len : sizeof name - 1;
        memcpy(name, buf, n);
        name[n] = '\0';
        fs_outbox_recipient(name, number, sizeof number, why, sizeof why);
        char esc[sizeof name * 4 + 1];
        fs_log_escape(name, esc, 1 + pick % sizeof esc);
        if (!fs_name_printable(esc) || strlen(esc) > pick % sizeof esc)
            abort(); /* escaped text is printable and fits */
        break;
    }
    }
    return 0;
}
