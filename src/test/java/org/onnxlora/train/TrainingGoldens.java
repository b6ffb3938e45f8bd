package org.onnxlora.train;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Loads the PyTorch goldens that {@link TrainingParityTest}'s helpers read ({@code patchedLikeGoldens},
 * {@code goldenBatch}) for the life of a test class: {@code @ExtendWith(TrainingGoldens.class)}.
 */
final class TrainingGoldens implements BeforeAllCallback, AfterAllCallback {
    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        TrainingParityTest.load();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        TrainingParityTest.close();
    }
}
