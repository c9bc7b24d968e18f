package io.lorica.itests;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;

import javax.inject.Inject;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.format.AdapterLoader;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.api.policy.PromptSettings;
import io.lorica.api.policy.ScalePolicy;
import io.lorica.api.registry.AdapterReference;
import io.lorica.api.registry.AdapterRegistries;
import io.lorica.api.registry.AdapterRegistry;
import io.lorica.api.registry.FuseBackend;
import io.lorica.api.registry.FuseRequest;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * The scale policy in the container: settings in both text forms, prompt tags, effective scales of an adapter the
 * loader read, and presets and limits changed through Config Admin and applied to the next call without a restart.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class PolicyContainerIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String TO_Q = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q";

    @Inject
    private BundleContext context;

    @Inject
    private ConfigurationAdmin configurationAdmin;

    @Configuration
    public Option[] configuration() {
        return LoricaKaraf.options();
    }

    private <T> T service(Class<T> type) {
        ServiceReference<T> reference = context.getServiceReference(type);
        assertNotNull("no " + type.getSimpleName() + " service", reference);
        return context.getService(reference);
    }

    private LoraAdapter kohyaSd15(String name) throws Exception {
        String stem = "lora_unet_" + TO_Q.replace('.', '_');
        Path file = Path.of(System.getProperty("karaf.base")).resolve("adapters").resolve(name + ".safetensors");
        new TinySafetensors()
                .filled(stem + ".lora_down.weight", new long[] {4, 640}, 0.01f)
                .filled(stem + ".lora_up.weight", new long[] {640, 4}, 0.02f)
                .tensor(stem + ".alpha", new long[0], 2f)
                .write(file);
        return service(AdapterLoader.class).load(new AdapterReference.FileReference(file), ModelFamily.SD15);
    }

    @Test
    public void resolve_appliesAlphaOverRankTimesBlockWeightTimesCallScale() throws Exception {
        ScalePolicy policy = service(ScalePolicy.class);
        LoraAdapter adapter = kohyaSd15("policy-a");
        AdapterSettings settings = policy.parse("{\"adapters\": {\"a\": {\"unet\": {\"down\": {\"block_1\": [0.4, 0.8]}}}}, \"scale\": 0.5}");
        EffectiveScales scales = policy.resolve(settings, Map.of("a", adapter), ModelFamily.SD15);
        // alpha/r = 2/4 = 0.5; down.block_1 attention 0 -> 0.4; call scale 0.5
        assertEquals(0.5f * 0.4f * 0.5f, scales.scale(Component.UNET, TO_Q, "a"), 1e-6f);
        assertEquals(settings, policy.parse(policy.format(settings)));
    }

    @Test
    public void parsePrompt_takesTheTagsOut() {
        PromptSettings parsed = service(ScalePolicy.class).parsePrompt("a castle <lora:a:0.7> at dusk");
        assertEquals("a castle at dusk", parsed.prompt());
        assertEquals(List.of("a"), parsed.settings().names());
    }

    @Test
    public void presetsAndLimits_changeThroughConfigAdmin_withoutRestart() throws Exception {
        ScalePolicy before = service(ScalePolicy.class);
        assertThrows(IllegalArgumentException.class, () -> before.parse("a:lbw=ITEST"));
        org.osgi.service.cm.Configuration configuration = configurationAdmin.getConfiguration("io.lorica.policy", "?");
        Dictionary<String, Object> original = configuration.getProperties();
        assertNotNull("etc/io.lorica.policy.cfg was not loaded", original);
        Hashtable<String, Object> changed = new Hashtable<>();
        for (var keys = original.keys(); keys.hasMoreElements(); ) {
            String key = keys.nextElement();
            changed.put(key, original.get(key));
        }
        changed.put("presets", "ITEST:1,0,0,0,0,0,0,0,1,1,1,1,0,0,0,0,0");
        changed.put("max.active.adapters", "1");
        configuration.update(changed);
        try {
            Poll.until(TIMEOUT, "preset ITEST known", () -> {
                try {
                    service(ScalePolicy.class).parse("a:lbw=ITEST");
                    return true;
                } catch (IllegalArgumentException notYet) {
                    return false;
                }
            });
            LoraAdapter adapter = kohyaSd15("policy-b");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> service(ScalePolicy.class).resolve(
                    service(ScalePolicy.class).parse("a:1,b:1"), Map.of("a", adapter, "b", adapter), ModelFamily.SD15));
            assertTrue(e.getMessage(), e.getMessage().contains("max.active.adapters"));
        } finally {
            configuration.update(original);
        }
    }

    @Test
    public void registry_followsDiffusersActivationRules_andRefusesToFuseWithoutAnEngine() throws Exception {
        kohyaSd15("registry-a");
        kohyaSd15("registry-b");
        AdapterRegistry registry = service(AdapterRegistries.class).create("itest", ModelFamily.SD15, FuseBackend.none("itest"));
        registry.load(new AdapterReference.DirectoryReference("registry-a"), "a");
        registry.load(new AdapterReference.DirectoryReference("registry-b"));
        // a newly loaded adapter is the only active one
        assertEquals(List.of("default_0"), registry.getActiveAdapters());
        assertEquals(List.of("a", "default_0"), registry.getListAdapters().get(Component.UNET));
        registry.setAdapters(List.of("a", "default_0"), List.of(io.lorica.api.policy.AdapterWeight.of(0.3), io.lorica.api.policy.AdapterWeight.of(0.7)));
        assertEquals(List.of("a", "default_0"), registry.getActiveAdapters());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> registry.setAdapters(List.of("nope")));
        assertTrue(unknown.getMessage(), unknown.getMessage().contains("not in the list of present adapters"));
        IllegalStateException noEngine = assertThrows(IllegalStateException.class,
                () -> registry.fuseLora(new FuseRequest(ModelFamily.SD15.components(), 1.0, false, List.of())));
        assertTrue(noEngine.getMessage(), noEngine.getMessage().contains("fusing needs an inference engine"));
        EffectiveScales scales = service(ScalePolicy.class).resolve(registry.defaults(), registry.loadedAdapters(), ModelFamily.SD15);
        assertEquals(0.5f * 0.7f, scales.scale(Component.UNET, TO_Q, "default_0"), 1e-6f);
        registry.deleteAdapters(List.of("a"));
        assertEquals(List.of("default_0"), registry.getActiveAdapters());
    }
}
