package ai.autlearn;

import java.lang.ref.Cleaner;

/**
 * Loads the JNI library once and owns the Cleaner that frees native handles
 * whose Java objects were dropped without close(). The system property
 * "autlearn.library" may name the library file; otherwise it is found as
 * "autlearn_jni" on java.library.path (on Android: in the APK's lib/ABI/).
 */
final class Native {
    static final Cleaner CLEANER = Cleaner.create();

    static {
        String path = System.getProperty("autlearn.library");
        if (path != null && !path.isEmpty()) {
            System.load(path);
        } else {
            System.loadLibrary("autlearn_jni");
        }
    }

    private Native() {}

    /** Forces the static initializer (loading the library). */
    static void load() {}

    static native String version();
}
