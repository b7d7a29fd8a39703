/*
 * mail_send.c - builds one mail with mail_message_write() and hands it to
 * sendmail with sendmail_deliver(), as faxfs does; for the tests against a
 * real MTA. Prints the result class and its sentence.
 *
 *   mail_send --sendmail PATH [--from ADDR] [--from-name NAME] --to ADDR...
 *             [--subject S] [--message-id ID | --job-id N --index I --host H]
 *             [--header "Name: value"]... [--text T]
 *             [--attach TYPE:NAME:PATH]... [--timeout S]
 * Exit: 0 ok, 75 temporary, 69 permanent, 64 usage or build failure.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/mail_message.h"
#include "daemon/sendmail.h"

#define MAX 16

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sendmail", required_argument, NULL, 's'}, {"from", required_argument, NULL, 'f'},
        {"from-name", required_argument, NULL, 'n'}, {"to", required_argument, NULL, 't'},
        {"subject", required_argument, NULL, 'S'},  {"message-id", required_argument, NULL, 'm'},
        {"job-id", required_argument, NULL, 'j'},   {"index", required_argument, NULL, 'i'},
        {"host", required_argument, NULL, 'h'},     {"header", required_argument, NULL, 'H'},
        {"text", required_argument, NULL, 'T'},     {"attach", required_argument, NULL, 'a'},
        {"timeout", required_argument, NULL, 'o'},  {NULL, 0, NULL, 0},
    };
    struct sendmail_config cfg = {0};
    struct mail_message m = {0};
    const char *to[MAX], *headers[MAX];
    struct mail_attachment att[MAX];
    char msgid[MAIL_MESSAGE_ID_MAX] = "";
    unsigned long long job = 0;
    int index = 0, c;
    const char *host = NULL;
    m.to = to;
    m.extra_headers = headers;
    m.attachments = att;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': cfg.path = optarg; break;
        case 'f': m.from = optarg; break;
        case 'n': m.from_name = optarg; break;
        case 't': if (m.nto < MAX) to[m.nto++] = optarg; break;
        case 'S': m.subject = optarg; break;
        case 'm': m.message_id = optarg; break;
        case 'j': job = strtoull(optarg, NULL, 10); break;
        case 'i': index = atoi(optarg); break;
        case 'h': host = optarg; break;
        case 'H': if (m.nextra < MAX) headers[m.nextra++] = optarg; break;
        case 'T': m.text = optarg; break;
        case 'o': cfg.timeout_seconds = atoi(optarg); break;
        case 'a': {
            char *type = optarg, *name = strchr(type, ':'), *path = name ? strchr(name + 1, ':') : NULL;
            if (!path || m.nattachments >= MAX)
                return 64;
            *name++ = '\0';
            *path++ = '\0';
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                perror(path);
                return 64;
            }
            att[m.nattachments++] = (struct mail_attachment){type, name, fd};
            break;
        }
        default: return 64;
        }
    }
    if (!m.message_id && host) {
        mail_message_id(msgid, sizeof msgid, job, index, host);
        m.message_id = msgid;
    }
    int fd = memfd_create("mail", MFD_CLOEXEC);
    char why[512] = "";
    int r = mail_message_write(&m, fd, why, sizeof why);
    if (r < 0) {
        fprintf(stderr, "mail_send: %s\n", why);
        return 64;
    }
    enum sendmail_result res = sendmail_deliver(&cfg, m.from, m.to, m.nto, fd, why, sizeof why);
    printf("%s: %s\n", sendmail_result_name(res), why);
    if (msgid[0])
        printf("message-id: %s\n", msgid);
    return res == SENDMAIL_OK ? 0 : res == SENDMAIL_TEMPORARY ? 75 : 69;
}
