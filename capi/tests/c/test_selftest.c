/*
 * The sequence of operations of the kernel's livepatch selftest
 * (tools/testing/selftests/livepatch/test_modules/test_klp_shadow_vars.c):
 * three parents, two ids, get / alloc / get_or_alloc / free / free_all, with
 * a ctor that stores a pointer and a dtor, checked step by step.
 */
#include "harness.h"

#define NUM_OBJS 3
#define SV_ID1 0x1234 /* a "char *" field added to each object */
#define SV_ID2 0x1235 /* an "int *" field added to each object */

struct test_object {
    int unused;
};

static int ctor_calls;
static int dtor_calls;
static void *dtor_objs[NUM_OBJS];
static void *dtor_data[NUM_OBJS];

/* Store the pointer that ctor_data points to. */
static int store_pointer(void *obj, void *shadow_data, void *ctor_data)
{
    (void)obj;
    if (ctor_data == NULL)
        return -22;
    *(void **)shadow_data = *(void **)ctor_data;
    ctor_calls++;
    return 0;
}

static void record_free(void *obj, void *shadow_data)
{
    CHECK(dtor_calls < NUM_OBJS);
    dtor_objs[dtor_calls] = obj;
    dtor_data[dtor_calls] = shadow_data;
    dtor_calls++;
}

void test_kernel_selftest(void)
{
    struct test_object objs[NUM_OBJS];
    char chars[NUM_OBJS], *char_ptrs[NUM_OBJS], **sv1[NUM_OBJS];
    int ints[NUM_OBJS], *int_ptrs[NUM_OBJS], **sv2[NUM_OBJS];
    char *dup_ptrs[NUM_OBJS];

    /* empty table: no match */
    CHECK(klp_shadow_get(&objs[0], SV_ID1) == NULL);

    /* pass 1: attach a char* and an int* variable to each object, the
     * first through alloc on odd objects and get_or_alloc on even ones */
    for (int i = 0; i < NUM_OBJS; i++) {
        char_ptrs[i] = &chars[i];
        if (i % 2)
            sv1[i] = klp_shadow_alloc(&objs[i], SV_ID1, sizeof(char_ptrs[i]), 0,
                                      store_pointer, &char_ptrs[i]);
        else
            sv1[i] = klp_shadow_get_or_alloc(&objs[i], SV_ID1, sizeof(char_ptrs[i]), 0,
                                             store_pointer, &char_ptrs[i]);
        CHECK(sv1[i] != NULL);
        int_ptrs[i] = &ints[i];
        sv2[i] = klp_shadow_alloc(&objs[i], SV_ID2, sizeof(int_ptrs[i]), 0,
                                  store_pointer, &int_ptrs[i]);
        CHECK(sv2[i] != NULL);
    }
    CHECK(ctor_calls == 2 * NUM_OBJS);

    /* pass 2: each variable is found, at the address returned, pointing
     * where its ctor stored */
    for (int i = 0; i < NUM_OBJS; i++) {
        char **c = klp_shadow_get(&objs[i], SV_ID1);
        CHECK(c == sv1[i] && *c == char_ptrs[i]);
        int **n = klp_shadow_get(&objs[i], SV_ID2);
        CHECK(n == sv2[i] && *n == int_ptrs[i]);
    }

    /* pass 3: get_or_alloc returns the existing variables; the ctor does
     * not run again */
    for (int i = 0; i < NUM_OBJS; i++) {
        dup_ptrs[i] = &chars[(i + 1) % NUM_OBJS];
        char **c = klp_shadow_get_or_alloc(&objs[i], SV_ID1, sizeof(dup_ptrs[i]), 0,
                                           store_pointer, &dup_ptrs[i]);
        CHECK(c == sv1[i] && *c == char_ptrs[i]);
    }
    CHECK(ctor_calls == 2 * NUM_OBJS);

    /* pass 4: free the <objs[*], SV_ID1> variables with a dtor, one by one */
    for (int i = 0; i < NUM_OBJS; i++) {
        klp_shadow_free(&objs[i], SV_ID1, record_free);
        CHECK(dtor_calls == i + 1);
        CHECK(dtor_objs[i] == &objs[i] && dtor_data[i] == (void *)sv1[i]);
        CHECK(klp_shadow_get(&objs[i], SV_ID1) == NULL);
    }

    /* pass 5: the <objs[*], SV_ID2> variables are still there */
    for (int i = 0; i < NUM_OBJS; i++) {
        int **n = klp_shadow_get(&objs[i], SV_ID2);
        CHECK(n == sv2[i] && *n == int_ptrs[i]);
    }

    /* pass 6: free all of SV_ID2 at once, without a dtor */
    klp_shadow_free_all(SV_ID2, NULL);
    for (int i = 0; i < NUM_OBJS; i++)
        CHECK(klp_shadow_get(&objs[i], SV_ID2) == NULL);
    CHECK(dtor_calls == NUM_OBJS);
}
