package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradientRegistry;
import org.onnxlora.graph.GraphBuilder;

/** The rules onnx-lora ships, and the ops known to carry no gradient. */
public final class StandardRules {
    private StandardRules() {}

    /**
     * A registry holding every rule onnx-lora ships. It is built here, not in {@code autodiff}, so
     * the engine does not know its rules: {@code autodiff.rules} depends on {@code autodiff}, never back.
     */
    public static GradientRegistry registry() {
        return registerAll(new GradientRegistry());
    }

    public static GradientRegistry registerAll(GradientRegistry r) {
        String ms = GraphBuilder.MS_DOMAIN;
        r.register("", "MatMul", new MatMul());
        r.register("", "Gemm", new Gemm());
        r.register(ms, "FusedMatMul", new FusedMatMul());
        r.register("", "Add", new Add());
        r.register("", "Sub", new Sub());
        r.register("", "Mul", new Mul());
        r.register("", "Div", new Div());
        r.register("", "Neg", new Neg());
        r.register("", "Identity", new Identity());
        ShapeOnly shapeOnly = new ShapeOnly();
        for (String op : new String[] {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}) {
            r.register("", op, shapeOnly);
        }
        r.register("", "Transpose", new Transpose());
        r.register("", "Expand", new Expand());
        r.register("", "Concat", new Concat());
        r.register("", "Split", new Split());
        r.register("", "Slice", new Slice());
        r.register("", "Gather", new Gather());
        r.register("", "GatherElements", new GatherElements());
        r.register("", "Cast", new Cast());
        r.register("", "Where", new Where());
        r.register("", "Softmax", new Softmax());
        r.register("", "LogSoftmax", new LogSoftmax());
        r.register("", "LayerNormalization", new LayerNormalization());
        r.register("", "Erf", new Erf());
        r.register(ms, "Gelu", new Gelu());
        r.register(ms, "FastGelu", new FastGelu());
        r.register("", "Tanh", new Tanh());
        r.register("", "Sigmoid", new Sigmoid());
        r.register("", "Exp", new Exp());
        r.register("", "Log", new Log());
        r.register("", "Pow", new Pow());
        r.register("", "Sqrt", new Sqrt());
        r.register("", "ReduceSum", Reduce.sum());
        r.register("", "ReduceMean", Reduce.mean());
        r.register("", "Dropout", new Dropout());
        NoGradient none = new NoGradient();
        for (String op : new String[] {"Shape", "Size", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
                "And", "Or", "Not", "Xor", "IsNaN", "IsInf", "ArgMax", "ArgMin", "NonZero", "ConstantOfShape", "Range",
                "Sign", "Floor", "Ceil", "Round", "EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli"}) {
            r.register("", op, none);
        }
        return r;
    }
}
