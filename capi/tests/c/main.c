/* Entry point of the klp_shadow C tests: dispatches on argv[1]. */
#include <string.h>

#include "harness.h"

struct test_case {
    const char *name;
    void (*run)(void);
};

static const struct test_case tests[] = {
    {"get_absent", test_get_absent},
    {"alloc_zeroed_aligned", test_alloc_zeroed_aligned},
    {"size_zero", test_size_zero},
    {"stable_address", test_stable_address},
    {"ctor_once", test_ctor_once},
    {"get_or_alloc_ignores_args", test_get_or_alloc_ignores_args},
    {"ctor_failure", test_ctor_failure},
    {"duplicate", test_duplicate},
    {"out_of_memory", test_out_of_memory},
    {"free_dtor", test_free_dtor},
    {"free_all", test_free_all},
    {"reentrant", test_reentrant},
    {"kernel_selftest", test_kernel_selftest},
    {"threads_get_or_alloc", test_threads_get_or_alloc},
    {"threads_alloc", test_threads_alloc},
    {"threads_get_vs_free", test_threads_get_vs_free},
};

#define NUM_TESTS (sizeof(tests) / sizeof(tests[0]))

void expect_duplicate(void *obj, unsigned long id)
{
    printf("expect-stderr: Duplicate shadow variable <0x%" PRIxPTR ", %lx>\n",
           (uintptr_t)obj, id);
    fflush(stdout);
}

void expect_ctor_failed(void *obj, unsigned long id, int err)
{
    printf("expect-stderr: Failed to construct shadow variable <0x%" PRIxPTR ", %lx> (%d)\n",
           (uintptr_t)obj, id, err);
    fflush(stdout);
}

int all_zero(const void *data, size_t size)
{
    const unsigned char *bytes = data;
    for (size_t i = 0; i < size; i++)
        if (bytes[i] != 0)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s all|list|TEST\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < NUM_TESTS; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    int all = strcmp(argv[1], "all") == 0;
    int ran = 0;
    for (size_t i = 0; i < NUM_TESTS; i++) {
        if (all || strcmp(argv[1], tests[i].name) == 0) {
            tests[i].run();
            printf("ok %s\n", tests[i].name);
            fflush(stdout);
            ran++;
        }
    }
    if (ran == 0) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    return 0;
}
