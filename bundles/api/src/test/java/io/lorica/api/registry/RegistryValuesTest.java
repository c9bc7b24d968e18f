package io.lorica.api.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lorica.api.Component;
import io.lorica.api.ModelFamily;
import io.lorica.api.TensorData;
import io.lorica.api.adapter.LayerGeometry;
import io.lorica.api.adapter.LoadReport;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.adapter.LoraModule;
import io.lorica.api.policy.AdapterSettings;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

/** AdapterInfo, FuseRequest, AdapterRegistryEvent and AdapterRegistry's default methods. */
class RegistryValuesTest {

    static final AdapterReference SOURCE = new AdapterReference.DirectoryReference("toy.safetensors");

    static LoraModule module(Component component, String path, int rank) {
        return LoraModule.of(component, path, LayerGeometry.linear(4, 4), 0f,
                TensorData.ofFloats(new long[] {rank, 4}, new float[rank * 4]),
                TensorData.ofFloats(new long[] {4, rank}, new float[rank * 4]));
    }

    @Test
    void adapterInfoOf_countsModulesPerComponentAndCollectsRanks() {
        Map<Component, Map<String, LoraModule>> modules = new LinkedHashMap<>();
        modules.put(Component.UNET, Map.of("conv_in", module(Component.UNET, "conv_in", 4),
                "conv_out", module(Component.UNET, "conv_out", 8)));
        modules.put(Component.TEXT_ENCODER_2, Map.of("text_projection",
                module(Component.TEXT_ENCODER_2, "text_projection", 4)));
        LoraAdapter adapter = new LoraAdapter("kohya", ModelFamily.SDXL, modules, Map.of(), LoadReport.empty());
        AdapterInfo info = AdapterInfo.of("toy", adapter, SOURCE, true, false);
        assertEquals(Map.of(Component.UNET, 2, Component.TEXT_ENCODER_2, 1), info.moduleCounts());
        assertEquals(new TreeSet<>(List.of(4, 8)), info.ranks());
        assertEquals(3, info.moduleCount());
        assertEquals("kohya", info.format());
        assertTrue(info.active());
    }

    @Test
    void adapterInfo_whenCountZeroOrComponentOutsideFamilyOrRankZero_rejects() {
        LoadReport report = LoadReport.empty();
        assertEquals("module count of adapter 'toy' for unet must be >= 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new AdapterInfo("toy", "peft", ModelFamily.SD15,
                        Map.of(Component.UNET, 0), new TreeSet<>(), false, false, SOURCE, report)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> new AdapterInfo("toy", "peft", ModelFamily.SD15,
                Map.of(Component.TEXT_ENCODER_2, 1), new TreeSet<>(), false, false, SOURCE, report));
        assertThrows(IllegalArgumentException.class, () -> new AdapterInfo("toy", "peft", ModelFamily.SD15,
                Map.of(Component.UNET, 1), new TreeSet<>(List.of(0)), false, false, SOURCE, report));
        assertThrows(IllegalArgumentException.class, () -> new AdapterInfo("bad name", "peft", ModelFamily.SD15,
                Map.of(), new TreeSet<>(), false, false, SOURCE, report));
    }

    @Test
    void fuseRequestDefaults_fuseActiveAdaptersIntoEveryComponentAtScaleOne() {
        FuseRequest request = FuseRequest.defaults(ModelFamily.SDXL);
        assertEquals(ModelFamily.SDXL.components(), request.components());
        assertEquals(1.0, request.loraScale());
        assertTrue(request.fusesActiveAdapters());
    }

    @Test
    void fuseRequest_whenComponentsEmpty_rejects() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new FuseRequest(Set.of(), 1.0, false, List.of()));
        assertEquals("components must be a non-empty set of components, got []", e.getMessage());
    }

    @Test
    void fuseRequest_whenScaleNotFiniteOrNamesRepeat_rejects() {
        assertEquals("loraScale must be a finite number, got NaN", assertThrows(IllegalArgumentException.class,
                () -> new FuseRequest(Set.of(Component.UNET), Double.NaN, false, List.of())).getMessage());
        assertEquals("adapter name to fuse 'a' is listed twice in [a, a]", assertThrows(IllegalArgumentException.class,
                () -> new FuseRequest(Set.of(Component.UNET), 1.0, false, List.of("a", "a"))).getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new FuseRequest(Set.of(Component.UNET), 1.0, false, null));
    }

    @Test
    void fuseRequest_copiesItsCollections() {
        Set<Component> components = EnumSet.of(Component.UNET);
        List<String> names = new ArrayList<>(List.of("a"));
        FuseRequest request = new FuseRequest(components, 0.5, true, names);
        components.add(Component.TEXT_ENCODER);
        names.add("b");
        assertEquals(Set.of(Component.UNET), request.components());
        assertEquals(List.of("a"), request.adapterNames());
    }

    @Test
    void registryEvent_whenPipelineIdBlank_rejects() {
        assertThrows(IllegalArgumentException.class, () -> new AdapterRegistryEvent(AdapterRegistryEvent.Kind.LOADED,
                " ", List.of("toy"), AdapterSettings.none()));
        AdapterRegistryEvent event = new AdapterRegistryEvent(AdapterRegistryEvent.Kind.DELETED, "sd15",
                List.of("toy"), AdapterSettings.none());
        assertEquals(List.of("toy"), event.adapterNames());
    }

    @Test
    void registryDefaults_delegateWithDiffusersDefaults() {
        List<String> calls = new ArrayList<>();
        InvocationHandler handler = (proxy, method, args) -> {
            if (method.isDefault()) {
                return InvocationHandler.invokeDefault(proxy, method, args);
            }
            calls.add(method.getName() + (args == null ? "[]" : java.util.Arrays.toString(args)));
            return method.getName().equals("family") ? ModelFamily.SD15 : null;
        };
        AdapterRegistry registry = (AdapterRegistry) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {AdapterRegistry.class}, handler);
        registry.load(SOURCE);
        registry.setAdapters(List.of("toy"));
        registry.unfuseLora();
        assertEquals(List.of("load[" + SOURCE + ", null]", "setAdapters[[toy], null]", "family[]",
                "unfuseLora[[unet, text_encoder]]"), calls);
    }
}
