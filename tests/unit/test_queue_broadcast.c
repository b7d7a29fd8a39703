/*
 * test_queue_broadcast.c - one fax to many numbers: the recipients file's
 * parsing and refusals (with line numbers), the group submission through
 * the dial rules, and its atomic commit in the file spool: a fault in the
 * middle leaves no job of the group, a crash after the commit record
 * leaves all of them, and the shared pages survive the deletion of one job.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/fault.h"
#include "queue_testutil.h"

/* ---- the recipients file -------------------------------------------- */

static const struct {
    const char *text;
    size_t max;
    int err;       /* 0 accepted */
    int line;      /* the line named in a refusal (0: none) */
    size_t n;      /* entries when accepted */
    const char *first_number, *first_name;
} parse_cases[] = {
    { "5551234\n", 0, 0, 0, 1, "5551234", "" },
    { "5551234", 0, 0, 0, 1, "5551234", "" },                                 /* no final newline */
    { "# list\n\n  \n555-1234\tAda Lovelace\n5551235\n", 0, 0, 0, 2, "555-1234", "Ada Lovelace" },
    { "+1 (555) 123-4567\t  Grace  \r\n", 0, 0, 0, 1, "+1 (555) 123-4567", "Grace" }, /* CRLF, blanks trimmed */
    { "9,5551234\n", 0, 0, 0, 1, "9,5551234", "" },                          /* a pause */
    { "   # indented comment\n5551234\n", 0, 0, 0, 1, "5551234", "" },
    { "5551234\n5551235\nfive\n", 0, -EINVAL, 3, 0, NULL, NULL },            /* letters */
    { "5551234\n555\x1b[2J\n", 0, -EINVAL, 2, 0, NULL, NULL },               /* a control character */
    { "+\n", 0, -EINVAL, 1, 0, NULL, NULL },                                  /* no digit */
    { "55+51234\n", 0, -EINVAL, 1, 0, NULL, NULL },                           /* + inside */
    { "", 0, -EINVAL, 0, 0, NULL, NULL },                                      /* nothing */
    { "# only a comment\n\n", 0, -EINVAL, 0, 0, NULL, NULL },
    { "1\n2\n3\n", 2, -E2BIG, 3, 0, NULL, NULL },                              /* over the maximum */
    { "1\n2\n", 2, 0, 0, 2, "1", "" },                                         /* exactly the maximum */
};

static void test_recipients_parsing_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        struct queue_recipient *v = NULL;
        size_t n = 99;
        int line = -1;
        char why[256] = "";
        int r = queue_parse_recipients(parse_cases[i].text, strlen(parse_cases[i].text), parse_cases[i].max, &v, &n,
                                       &line, why, sizeof why);
        printf("# case %zu: %d line %d %s\n", i, r, line, why);
        assert_int_equal(r, parse_cases[i].err);
        if (r != 0) {
            assert_null(v);
            assert_int_equal(n, 0);
            assert_int_equal(line, parse_cases[i].line);
            assert_true(why[0] != '\0');
            if (line > 0) {
                char want[32];
                snprintf(want, sizeof want, "line %d:", line);
                assert_non_null(strstr(why, want));
            }
            continue;
        }
        assert_int_equal(n, parse_cases[i].n);
        assert_string_equal(v[0].number, parse_cases[i].first_number);
        assert_string_equal(v[0].name, parse_cases[i].first_name);
        free(v);
    }
}

static void test_a_long_name_is_refused_with_its_line(void **state)
{
    char text[400];
    struct queue_recipient *v;
    size_t n;
    int line;
    char why[256];

    (void)state;
    snprintf(text, sizeof text, "5551234\n5551235\t%0200d\n", 0);
    assert_int_equal(queue_parse_recipients(text, strlen(text), 0, &v, &n, &line, why, sizeof why), -EINVAL);
    assert_int_equal(line, 2);
}

/* ---- group submission in the file spool ----------------------------- */

static int setup(void **state)
{
#ifdef FAXFS_FAULT_INJECTION
    fault_configure(NULL);
#endif
    return queue_fixture_setup_spool(state);
}

static int teardown(void **state)
{
#ifdef FAXFS_FAULT_INJECTION
    fault_configure(NULL);
#endif
    return queue_fixture_teardown(state);
}

static size_t entries(struct queue_fixture *f, const char *sub)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s/%s' | wc -l", f->dir, sub);
    FILE *p = popen(cmd, "r");
    unsigned long n = 0;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%lu", &n), 1);
    pclose(p);
    return n;
}

static size_t job_count(struct queue *q)
{
    uint64_t *ids;
    size_t n;
    assert_int_equal(queue_list(q, QL_UNFINISHED | QL_HISTORY | QL_RECEIVED, &ids, &n), 0);
    free(ids);
    return n;
}

static int check_spool(struct queue_fixture *f)
{
    int r = queue_check_spool(f->dir, stdout); /* the report helps when it fails */
    fflush(stdout);
    return r;
}

static struct queue_recipient *numbers(size_t n, size_t bad_at, const char *bad)
{
    struct queue_recipient *v = calloc(n, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        snprintf(v[i].number, sizeof v[i].number, "555%04zu", 1000 + i);
        snprintf(v[i].name, sizeof v[i].name, "Person %zu", i);
        v[i].line = (int)i + 2; /* as if a comment came first */
    }
    if (bad)
        snprintf(v[bad_at].number, sizeof v[bad_at].number, "%s", bad);
    return v;
}

static int submit_group(struct queue *q, size_t n, size_t bad_at, const char *bad, int pages, uint64_t *group,
                        char *why, size_t whylen)
{
    struct queue_request req = {0};
    struct queue_recipient *v = numbers(n, bad_at, bad);
    int fd = make_good_tiff(pages);
    int r = queue_submit_group(q, &test_owner, &req, v, n, &fd, 1, group, why, whylen);
    close(fd);
    free(v);
    return r;
}

static void test_a_group_is_one_job_per_number_with_shared_pages(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t group = 0;
    char why[256] = "", path[512];
    struct job j;
    struct stat st;

    assert_int_equal(submit_group(f->q, 5, 0, NULL, 2, &group, why, sizeof why), 0);
    assert_int_equal(group, QUEUE_FIRST_JOB_ID);
    assert_int_equal(job_count(f->q), 5);
    for (uint64_t id = group; id < group + 5; id++) {
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        assert_int_equal(j.group, group);
        assert_int_equal(j.page_count, 2);
        assert_int_equal(j.status, JOB_QUEUED);
    }
    assert_int_equal(queue_snapshot(f->q, group + 3, &j), 0);
    assert_string_equal(j.recipient_number, "5551003");
    assert_string_equal(j.recipient_name, "Person 3");
    /* One copy of each page, linked from every job. */
    snprintf(path, sizeof path, "%s/jobs/%llu/pages/001.tif", f->dir, (unsigned long long)group);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_nlink, 5);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(check_spool(f), 0);

    struct queue_group_member *m;
    size_t n;
    assert_int_equal(queue_group_members(f->q, group, &m, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(m[4].id, group + 4);
    free(m);

    /* A restart finds every job of the group, group id included. */
    queue_fixture_reopen(f);
    assert_int_equal(job_count(f->q), 5);
    assert_int_equal(queue_snapshot(f->q, group + 4, &j), 0);
    assert_int_equal(j.group, group);

    /* Deleting one finished job leaves the others' pages. */
    assert_int_equal(queue_control(f->q, &test_owner, group, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_delete(f->q, &test_owner, group, why, sizeof why), 0);
    snprintf(path, sizeof path, "%s/jobs/%llu/pages/001.tif", f->dir, (unsigned long long)group + 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_nlink, 4);
    assert_int_equal(check_spool(f), 0);
    assert_int_equal(queue_group_members(f->q, group, &m, &n), 0);
    assert_int_equal(n, 4);
    free(m);
    /* The next id follows the whole group. */
    assert_int_equal(submit_simple(f->q, "5551234", 1), group + 5);
}

static void test_a_refused_number_refuses_the_whole_group_naming_its_line(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t group = 0;
    char why[256] = "";

    /* The built-in refusal of the emergency number, at index 5 (line 7). */
    assert_int_equal(submit_group(f->q, 10, 5, "911", 1, &group, why, sizeof why), -EACCES);
    assert_non_null(strstr(why, "recipients line 7:"));
    assert_non_null(strstr(why, "911"));
    assert_int_equal(job_count(f->q), 0);
    assert_int_equal(entries(f, "jobs"), 0);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(submit_simple(f->q, "5551234", 1), QUEUE_FIRST_JOB_ID);
}

static bool same_file(const char *a, const char *b)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

/* A broadcast with a cover page: each job's page 1 is its own cover,
 * rendered with its recipient's name and number (so no two are alike),
 * the document pages after it are one shared copy; the commit stays one
 * group, and a restart finds the same. 260 recipients: more than one
 * Ghostscript run of covers, the later ones on several threads. */
static void test_a_group_with_a_cover_gives_each_job_its_own_first_page(void **state)
{
    struct queue_fixture *f = *state;
    if (access("/usr/bin/gs", X_OK) != 0)
        skip();
    struct queue_request req = {0};
    enum { N = 260 };
    struct queue_recipient *v = numbers(N, 0, NULL);
    uint64_t group = 0;
    char why[256] = "", a[512], b[512];
    struct stat st;
    struct job j;
    int fd = make_good_tiff(2);

    req.cover_page = true;
    strcpy(req.sender_name, "Bob");
    strcpy(req.cover_comment, "Our new prices.");
    if (queue_submit_group(f->q, &test_owner, &req, v, N, &fd, 1, &group, why, sizeof why) != 0)
        fail_msg("refused: %s", why);
    close(fd);
    queue_fixture_reopen(f);
    assert_int_equal(job_count(f->q), N);
    for (uint64_t id = group; id < group + N; id++) {
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        assert_int_equal(j.group, group);
        assert_int_equal(j.page_count, 3); /* the cover and the 2 shared pages */
        snprintf(a, sizeof a, "%s/jobs/%llu/pages/001.tif", f->dir, (unsigned long long)id);
        assert_int_equal(stat(a, &st), 0);
        assert_int_equal(st.st_nlink, 1); /* its own */
        assert_true(st.st_size > 0);
        for (int p = 2; p <= 3; p++) {
            snprintf(b, sizeof b, "%s/jobs/%llu/pages/%03d.tif", f->dir, (unsigned long long)id, p);
            assert_int_equal(stat(b, &st), 0);
            assert_int_equal(st.st_nlink, N); /* shared by all */
        }
        if (id > group && (id < group + 3 || id == group + 250 || id == group + N - 1)) {
            snprintf(b, sizeof b, "%s/jobs/%llu/pages/001.tif", f->dir, (unsigned long long)(id - 1));
            assert_false(same_file(a, b)); /* another recipient, another cover */
        }
    }
    int page = queue_open_page(f->q, group + 1, 0);
    assert_true(page >= 0);
    close(page);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(check_spool(f), 0);
    free(v);
}

/* Covers that cannot be made (here: no Ghostscript) refuse the whole
 * group, naming the cover, and leave nothing staged. */
static void test_covers_that_cannot_be_made_refuse_the_whole_group(void **state)
{
    struct queue_fixture *f = *state;
    f->cfg.ghostscript = "/nonexistent/gs";
    queue_fixture_reopen(f);
    struct queue_request req = {0};
    struct queue_recipient *v = numbers(300, 0, NULL); /* more than one run of covers */
    uint64_t group = 0;
    char why[256] = "";
    int fd = make_good_tiff(1);

    req.cover_page = true;
    assert_int_not_equal(queue_submit_group(f->q, &test_owner, &req, v, 300, &fd, 1, &group, why, sizeof why), 0);
    assert_non_null(strstr(why, "cover"));
    assert_int_equal(job_count(f->q), 0);
    assert_int_equal(entries(f, "jobs"), 0);
    assert_int_equal(entries(f, "tmp"), 0);
    close(fd);
    free(v);
}

#ifdef FAXFS_FAULT_INJECTION
static void test_a_disk_error_in_the_middle_leaves_no_job_of_the_group(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t group = 0, before = submit_simple(f->q, "5559999", 1);
    char why[256] = "";

    for (int k = 0; k < 3; k++) {
        static const char *const specs[] = { "spool.group.half_staged:eio", "spool.group.staged:enospc",
                                             "spool.group.committed:eio" };
        assert_int_equal(fault_configure(specs[k]), 0);
        assert_true(submit_group(f->q, 20, 0, NULL, 2, &group, why, sizeof why) < 0);
        assert_true(why[0] != '\0');
        fault_configure(NULL);
        assert_int_equal(job_count(f->q), 1);
        assert_int_equal(entries(f, "jobs"), 1);
        assert_int_equal(entries(f, "tmp"), 0);
        assert_int_equal(check_spool(f), 0);
    }
    struct job j;
    assert_int_equal(queue_snapshot(f->q, before, &j), 0);
    queue_fixture_reopen(f);
    assert_int_equal(job_count(f->q), 1);
    assert_int_equal(submit_group(f->q, 3, 0, NULL, 1, &group, why, sizeof why), 0);
    assert_int_equal(job_count(f->q), 4);
}

/* A broadcast of n in a child killed at spec; the spool is reopened. */
static int group_in_killed_child(struct queue_fixture *f, const char *spec, size_t n)
{
    queue_close(f->q);
    f->q = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct queue *q;
        uint64_t group;
        char why[256];
        if (queue_open(&q, &f->cfg) != 0)
            _exit(3);
        fault_configure(spec);
        submit_group(q, n, 0, NULL, 2, &group, why, sizeof why);
        _exit(0); /* the fault did not fire */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(queue_open(&f->q, &f->cfg), 0);
    return status;
}

static void test_a_crash_before_the_commit_record_leaves_no_job(void **state)
{
    struct queue_fixture *f = *state;
    const char *const specs[] = { "spool.group.half_staged:kill", "spool.group.staged:kill" };

    for (int k = 0; k < 2; k++) {
        int status = group_in_killed_child(f, specs[k], 30);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_int_equal(job_count(f->q), 0);
        assert_int_equal(entries(f, "jobs"), 0);
        assert_int_equal(entries(f, "tmp"), 0);
        assert_int_equal(check_spool(f), 0);
    }
}

static void test_a_crash_after_the_commit_record_leaves_every_job(void **state)
{
    struct queue_fixture *f = *state;
    const char *const specs[] = { "spool.group.committed:kill", "spool.group.first_renamed:kill" };
    struct job j;

    for (int k = 0; k < 2; k++) {
        int status = group_in_killed_child(f, specs[k], 30);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_int_equal(job_count(f->q), 30 * (size_t)(k + 1));
        assert_int_equal(entries(f, "tmp"), 0);
        assert_int_equal(check_spool(f), 0);
        /* The group's ids: the newest 30 (a crash skips the rest of the
         * id block reserved, so the second group does not follow on). */
        uint64_t *ids;
        size_t nids;
        assert_int_equal(queue_list(f->q, QL_UNFINISHED, &ids, &nids), 0);
        assert_int_equal(nids, 30 * (size_t)(k + 1));
        uint64_t first = ids[nids - 30];
        free(ids);
        for (uint64_t id = first; id < first + 30; id++) {
            assert_int_equal(queue_snapshot(f->q, id, &j), 0);
            assert_int_equal(j.group, first);
            assert_int_equal(j.page_count, 2);
        }
    }
}
#endif

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipients_parsing_table),
        cmocka_unit_test(test_a_long_name_is_refused_with_its_line),
        T(test_a_group_is_one_job_per_number_with_shared_pages),
        T(test_a_refused_number_refuses_the_whole_group_naming_its_line),
        T(test_a_group_with_a_cover_gives_each_job_its_own_first_page),
        T(test_covers_that_cannot_be_made_refuse_the_whole_group),
#ifdef FAXFS_FAULT_INJECTION
        T(test_a_disk_error_in_the_middle_leaves_no_job_of_the_group),
        T(test_a_crash_before_the_commit_record_leaves_no_job),
        T(test_a_crash_after_the_commit_record_leaves_every_job),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
