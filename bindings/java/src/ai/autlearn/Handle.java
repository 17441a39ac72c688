package ai.autlearn;

/**
 * One native pointer and the function that frees it. Shared by an object
 * and its Cleaner action, so the pointer is freed exactly once: by close(),
 * or by the Cleaner when the object became unreachable unclosed. The Cleaner
 * action must not refer to the owning object, hence this separate class.
 */
final class Handle implements Runnable {
    interface Free {
        void free(long ptr);
    }

    private long ptr;
    private final Free free;

    Handle(long ptr, Free free) {
        this.ptr = ptr;
        this.free = free;
    }

    /** The live pointer; an AutlearnException (AL_ESTATE) after close. */
    synchronized long get(String what) {
        if (ptr == 0) throw AutlearnException.closed(what);
        return ptr;
    }

    synchronized boolean isClosed() {
        return ptr == 0;
    }

    @Override
    public synchronized void run() {
        if (ptr != 0) {
            long p = ptr;
            ptr = 0;
            free.free(p);
        }
    }
}
