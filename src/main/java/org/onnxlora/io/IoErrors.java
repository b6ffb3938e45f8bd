package org.onnxlora.io;

import java.io.EOFException;
import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.NotLinkException;
import java.util.Locale;

/**
 * Words for an {@link IOException}, for messages that already name the file. The JDK's
 * {@link AccessDeniedException}, {@link NoSuchFileException} and their siblings carry only the
 * path as their message ("cannot read model file m.onnx: m.onnx" said nothing of why); their type
 * is the reason. Every place that reports an I/O failure goes through here.
 */
public final class IoErrors {
    private IoErrors() {}

    /**
     * Why {@code e} happened, without the path: "permission denied", "no space left on device". Other
     * exceptions (a parser's, as Gson's MalformedJsonException is an IOException) give their own
     * message, cleaned as {@link JsonErrors#reason} does.
     */
    public static String reason(Throwable e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or folder";
        }
        if (e instanceof FileAlreadyExistsException) {
            return "already exists";
        }
        if (e instanceof DirectoryNotEmptyException) {
            return "the folder is not empty";
        }
        if (e instanceof NotDirectoryException) {
            return "not a folder";
        }
        if (e instanceof NotLinkException) {
            return "not a symbolic link";
        }
        if (e instanceof FileSystemLoopException) {
            return "a loop of symbolic links";
        }
        if (e instanceof FileSystemException fs) {
            // the OS's words ("Read-only file system", "No space left on device", "Is a directory")
            String r = fs.getReason();
            return r == null || r.isBlank() ? "file system error" : lowerFirst(r.strip());
        }
        if (e instanceof CharacterCodingException) {
            return "not valid UTF-8 text";
        }
        if (e instanceof ClosedByInterruptException) {
            return "interrupted";
        }
        if (e instanceof EOFException && e.getMessage() == null) {
            return "the file ends too early";
        }
        return JsonErrors.reason(e);
    }

    /** "FILE: reason" (or "FILE -> OTHER: reason") for an I/O failure that escaped without context. */
    public static String describe(IOException e) {
        if (e instanceof FileSystemException fs && fs.getFile() != null) {
            String where = fs.getOtherFile() == null ? fs.getFile() : fs.getFile() + " -> " + fs.getOtherFile();
            return where + ": " + reason(e);
        }
        return "I/O error: " + reason(e);
    }

    private static String lowerFirst(String s) {
        // "Is a directory" reads as part of the sentence; keep all-caps words ("NFS ...") as they are
        if (s.length() > 1 && Character.isUpperCase(s.charAt(0)) && Character.isLowerCase(s.charAt(1))) {
            return s.substring(0, 1).toLowerCase(Locale.ROOT) + s.substring(1);
        }
        return s;
    }
}
