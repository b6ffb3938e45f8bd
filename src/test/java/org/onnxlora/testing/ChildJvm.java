package org.onnxlora.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line of a child JVM that runs the CLI (or a test main) the way a user's {@code java
 * -cp target/classes:target/lib/*} does: the core's runtime classpath, never the test classpath.
 * The test classpath also holds Spark's jars (a test-scope dependency), and with them on the
 * classpath ONNX Runtime crashed the child (exit 139) and runs no longer behaved like the CLI's.
 */
public final class ChildJvm {
    private ChildJvm() {}

    /** {@code java -cp <core runtime classpath> org.onnxlora.cli.Main}: the CLI as users run it. */
    public static List<String> cli() {
        return command("org.onnxlora.cli.Main", classpath(false));
    }

    /** A test's own main class (target/test-classes added), started with {@code jvmArgs}. */
    public static List<String> testMain(Class<?> main, String... jvmArgs) {
        return command(main.getName(), classpath(true), jvmArgs);
    }

    private static List<String> command(String mainClass, String classpath, String... jvmArgs) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(jvmArgs));
        cmd.add("-cp");
        cmd.add(classpath);
        cmd.add(mainClass);
        return cmd;
    }

    /**
     * target/classes (and target/test-classes when asked) plus the core's runtime dependencies, as
     * Maven's build-classpath wrote them at generate-test-resources.
     */
    static String classpath(boolean withTestClasses) {
        Path file = Path.of("target", "core-runtime-classpath.txt");
        String deps;
        try {
            deps = Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new UncheckedIOException("run the tests through Maven (./mvnw test): " + file.toAbsolutePath()
                    + " is written by the build", e);
        }
        String classes = Path.of("target", "classes").toAbsolutePath().toString();
        if (!withTestClasses) {
            return String.join(File.pathSeparator, classes, deps);
        }
        String testClasses = Path.of("target", "test-classes").toAbsolutePath().toString();
        return String.join(File.pathSeparator, classes, testClasses, deps);
    }
}
