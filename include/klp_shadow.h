/*
 * klp_shadow.h - shadow variables for C and C++ programs, with the Linux
 * kernel's livepatch API (klp_shadow_*), backed by the shadow-vars crate.
 *
 * Link with libklp_shadow.a (plus -lpthread -ldl -lm) or libklp_shadow.so,
 * built by `cargo build --release -p shadow-vars-capi` into target/release/
 * (or $CARGO_TARGET_DIR/release/). -lpthread -ldl -lm is enough for gcc and
 * clang on glibc 2.34 and later; the full list of system libraries the
 * static library needs is what `cargo rustc -p shadow-vars-capi --release
 * --lib --crate-type staticlib -- --print native-static-libs` prints (on
 * glibc: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc).
 *
 * A shadow variable is a block of data attached to an existing object
 * ("parent") without changing the parent's type or layout. It is found by
 * the pair <obj, id>: the parent's address and a number. One parent may
 * carry several variables under different ids; one id may be used on many
 * parents. All functions use one process-wide table and are thread-safe.
 *
 * Semantics are the kernel's (kernel/livepatch/shadow.c):
 *   - data is `size` zeroed bytes (size 0 is allowed: the variable is then a
 *     flag, and its pointer is still non-NULL and unique), aligned for any C
 *     type (max_align_t), at one address until the variable is freed;
 *   - a constructor runs at most once per creation, never for an existing
 *     variable, and returns 0 for success;
 *   - klp_shadow_alloc() on an existing <obj, id> returns NULL and prints
 *     "Duplicate shadow variable <obj, id>" to stderr; a failing constructor
 *     makes both allocators return NULL and print "Failed to construct shadow
 *     variable <obj, id> (err)"; if the data block cannot be allocated,
 *     both return NULL (an allocation failure inside the table itself
 *     aborts the process, as Rust's allocations do);
 *   - the destructor runs inside klp_shadow_free*(); the memory is reclaimed
 *     later, once no concurrent klp_shadow_get() can still be reading it;
 *   - callers provide any mutual exclusion the data itself needs.
 *
 * Differences from the kernel: there is no global lock (klp_shadow_get()
 * takes no lock at all), the table grows instead of having 4096 fixed
 * buckets, and constructors and destructors run outside every lock of the
 * table, so they may call these functions for other <obj, id> pairs. A
 * constructor that asks for its own <obj, id> gets NULL instead of a
 * deadlock (two constructors on two threads that each wait for the other's
 * <obj, id> still deadlock). Concurrent creators of one <obj, id> coalesce:
 * one constructor runs and the others wait for it; klp_shadow_get_or_alloc()
 * callers then return its data, klp_shadow_alloc() callers report a
 * duplicate. If that constructor fails, one waiter runs its own. gfp_flags
 * is ignored.
 *
 * Constructors and destructors are called from Rust: they must return
 * normally (a C++ exception or a longjmp() out of one is undefined
 * behaviour).
 *
 * Lifetime: a parent is identified by its address only. Free an object's
 * shadow variables before freeing the object, or a new object allocated at
 * the same address inherits them. A data pointer must not be used once the
 * variable may have been freed.
 *
 * Sharing with Rust: these functions use shadow_vars::global() with the ids
 * ShadowId<CShadow>::new(id). On a pair that Rust code created with another
 * type under the same id, klp_shadow_get() and the allocators return NULL
 * and klp_shadow_free() does nothing; klp_shadow_free_all() frees the id's
 * C variables and leaves Rust's. Those NULL and no-op cases, and a
 * constructor asking for its own pair, are Rust panics caught at the
 * boundary: each prints the panic message on stderr (with a backtrace if
 * RUST_BACKTRACE is set), never unwinds into C.
 */
#ifndef KLP_SHADOW_H
#define KLP_SHADOW_H

#include <stddef.h> /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

/* Allocation flags: accepted for source compatibility with the kernel,
 * ignored. Pass 0 (or define GFP_KERNEL etc. to 0 in ported code). */
typedef unsigned int gfp_t;

/*
 * Constructor: initialises freshly allocated, zeroed shadow data.
 * @obj:         the parent object
 * @shadow_data: the new variable's data (size bytes, zeroed)
 * @ctor_data:   the ctor_data argument of the allocating call
 * Return 0 on success; any other value discards the variable, and the
 * allocating call returns NULL.
 */
typedef int (*klp_shadow_ctor_t)(void *obj, void *shadow_data, void *ctor_data);

/*
 * Destructor: releases whatever the shadow data refers to. Called once per
 * freed variable, before klp_shadow_free()/klp_shadow_free_all() returns,
 * while the data is still valid.
 */
typedef void (*klp_shadow_dtor_t)(void *obj, void *shadow_data);

/*
 * klp_shadow_get() - retrieve a shadow variable's data pointer.
 * Return: the data of <obj, id>, or NULL if there is none (or if its
 * constructor is still running in another thread). Never blocks.
 */
void *klp_shadow_get(void *obj, unsigned long id);

/*
 * klp_shadow_alloc() - allocate and attach a new shadow variable.
 * Allocates size zeroed bytes, runs ctor(obj, data, ctor_data) if ctor is
 * not NULL, then attaches the data to <obj, id>.
 * Return: the new data; NULL if <obj, id> already exists (one line on
 * stderr; the existing variable is untouched), if ctor fails (one line on
 * stderr; nothing is attached), or if the data cannot be allocated.
 */
void *klp_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
                       klp_shadow_ctor_t ctor, void *ctor_data);

/*
 * klp_shadow_get_or_alloc() - get an existing shadow variable or create it.
 * If <obj, id> exists, returns its data and ignores size, ctor and
 * ctor_data. Otherwise creates it like klp_shadow_alloc(). Concurrent
 * callers for one <obj, id> get the same pointer; one ctor runs (another
 * only if it fails).
 * Return: the data; NULL if ctor fails (one line on stderr) or the data
 * cannot be allocated.
 */
void *klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
                              klp_shadow_ctor_t ctor, void *ctor_data);

/*
 * klp_shadow_free() - detach and free the <obj, id> shadow variable.
 * Runs dtor(obj, data) if dtor is not NULL, before returning. Does nothing
 * if there is no such variable. Stop using the data pointer afterwards.
 */
void klp_shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor);

/*
 * klp_shadow_free_all() - detach and free every <*, id> shadow variable.
 * Runs dtor(obj, data) once per freed variable, before returning. A
 * variable whose constructor is still running in another thread is not
 * freed (its creation completes after this call passed it).
 */
void klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KLP_SHADOW_H */
