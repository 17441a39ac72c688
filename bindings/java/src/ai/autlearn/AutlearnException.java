package ai.autlearn;

/**
 * A failed autlearn call: the library's status code, its name ("AL_EINVAL",
 * ...) and the message al_last_error() left on the calling thread.
 * Unchecked, like the platform's own IllegalStateException, so an app can
 * catch it where it makes sense and nowhere else.
 */
public class AutlearnException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** al_status values the binding raises itself (include/autlearn.h). */
    public static final int EINVAL = -1;
    public static final int ESTATE = -11;

    private final int status;
    private final String statusName;

    public AutlearnException(int status, String statusName, String message) {
        super(statusName + ": " + message);
        this.status = status;
        this.statusName = statusName;
    }

    /** The al_status code (negative). */
    public int status() {
        return status;
    }

    /** The status's name, e.g. "AL_EFORMAT". */
    public String statusName() {
        return statusName;
    }

    static AutlearnException closed(String what) {
        return new AutlearnException(ESTATE, "AL_ESTATE", what + " is closed");
    }

    static AutlearnException state(String message) {
        return new AutlearnException(ESTATE, "AL_ESTATE", message);
    }

    static AutlearnException invalid(String message) {
        return new AutlearnException(EINVAL, "AL_EINVAL", message);
    }
}
