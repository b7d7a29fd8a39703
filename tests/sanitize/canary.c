/*
 * canary.c - one deliberate error of each kind the sanitizer build must
 * catch, compiled with the product's flags (whatever optimisation the
 * sanitizer build uses): the test (canary.sh) runs each and wants the
 * sanitizer's report and a failed exit. Sizes and indexes come from the
 * command line so that no optimiser can prove the error away.
 * Usage: canary none|heap-overflow|use-after-free|stack-overflow|leak|signed-overflow|bounds N
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept;

__attribute__((noinline)) static void leak(size_t n)
{
    kept = malloc(n);
    kept = NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: canary KIND N\n");
        return 2;
    }
    const char *kind = argv[1];
    int n = atoi(argv[2]);
    if (n < 1 || n > 64) {
        fprintf(stderr, "canary: N must be 1 to 64\n");
        return 2;
    }

    /* Each error reads memory it must not and prints what it read: an
     * access whose result is used (a dead one, such as a store to freed
     * memory that nothing reads, may be optimised away, and then neither
     * the program nor the sanitizer sees it). */
    if (strcmp(kind, "none") == 0) {
        char *p = calloc((size_t)n, 1);
        if (p == NULL)
            return 2;
        printf("%d\n", p[n - 1]);
        free(p);
    } else if (strcmp(kind, "heap-overflow") == 0) {
        char *p = calloc((size_t)n, 1);
        if (p == NULL)
            return 2;
        printf("%d\n", p[n]);
        free(p);
    } else if (strcmp(kind, "use-after-free") == 0) {
        /* Through a volatile pointer: the compiler cannot see the free. */
        char *volatile p = calloc((size_t)n, 1);
        if (p == NULL)
            return 2;
        free(p);
        printf("%d\n", p[0]);
    } else if (strcmp(kind, "stack-overflow") == 0) {
        char buf[64];
        memset(buf, 0, sizeof buf);
        /* Through a pointer, so that UBSan's bounds check knows no size. */
        const char *volatile q = buf;
        printf("%d\n", q[n + 63]);
    } else if (strcmp(kind, "leak") == 0) {
        leak((size_t)n);
    } else if (strcmp(kind, "signed-overflow") == 0) {
        volatile int x = INT_MAX - 1 + n;
        printf("%d\n", x + n);
    } else if (strcmp(kind, "bounds") == 0) {
        int a[64] = { 0 };
        volatile int i = 63 + n;
        printf("%d\n", a[i]);
    } else {
        fprintf(stderr, "canary: unknown kind %s\n", kind);
        return 2;
    }
    puts("canary: no error was reported");
    return 0;
}
